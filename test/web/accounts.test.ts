import { readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCRYPT,
  checkPasswordRules,
  hashPassword,
  needsRehash,
  verifyPassword,
} from '../../src/web/auth/password.js';
import { FileAdminUserStore } from '../../src/web/auth/users.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_SCRYPT } from './helpers.js';

describe('password hashing', () => {
  it('the default is memory-hard scrypt (64 MiB) and verifies', async () => {
    const h = await hashPassword('correct horse battery');
    expect(h).toMatch(/^scrypt\$65536\$8\$2\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(DEFAULT_SCRYPT.N * DEFAULT_SCRYPT.r * 128).toBe(64 * 1024 * 1024);
    expect(await verifyPassword('correct horse battery', h)).toBe(true);
  });

  it('salts per hash; wrong or malformed never verifies', async () => {
    const a = await hashPassword('correct horse battery', TEST_SCRYPT);
    const b = await hashPassword('correct horse battery', TEST_SCRYPT);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(
      await verifyPassword('correct horse battery', 'scrypt$3$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=='),
    ).toBe(false);
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
    expect(needsRehash(a)).toBe(true);
    expect(needsRehash(a, TEST_SCRYPT)).toBe(false);
  });

  it('password rules: length 12+, not the user name, not one repeated character', () => {
    expect(() => checkPasswordRules('short', 'bob')).toThrow(/at least 12/);
    expect(() => checkPasswordRules('aaaaaaaaaaaaaaaa', 'bob')).toThrow(/repeated/);
    expect(() => checkPasswordRules('administrator', 'Administrator')).toThrow(/user name/);
    expect(() => checkPasswordRules('x'.repeat(1025), 'bob')).toThrow(/at most 1024/);
    expect(() => checkPasswordRules('twelve chars', 'bob')).not.toThrow();
  });
});

describe('FileAdminUserStore', () => {
  const make = () => {
    const file = path.join(tempDir(), 'data', 'admin-users.json');
    return { file, store: new FileAdminUserStore(file, { scrypt: TEST_SCRYPT }) };
  };

  it('adds, lists, verifies, changes and removes users in a 0600 file without plain passwords', async () => {
    const { file, store } = make();
    await store.add('alice', 'correct horse battery');
    await store.add('bob', 'another long passphrase');
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('correct horse');
    expect((await store.list()).map((u) => u.name)).toEqual(['alice', 'bob']);
    expect(Object.keys((await store.list())[0]!)).toEqual(['name', 'createdAt', 'passwordChangedAt']);

    const ok = await store.verify('alice', 'correct horse battery');
    expect(ok.ok).toBe(true);
    expect(await store.verify('alice', 'wrong password!!')).toEqual({ ok: false, reason: 'wrong-password' });
    expect(await store.verify('mallory', 'correct horse battery')).toEqual({
      ok: false,
      reason: 'unknown-user',
    });

    const stamp = await store.stamp('alice');
    await store.setPassword('alice', 'a brand new passphrase');
    expect(await store.stamp('alice')).not.toBe(stamp);
    expect((await store.verify('alice', 'correct horse battery')).ok).toBe(false);
    expect((await store.verify('alice', 'a brand new passphrase')).ok).toBe(true);

    await store.remove('bob');
    expect(await store.stamp('bob')).toBeUndefined();
    expect((await store.list()).map((u) => u.name)).toEqual(['alice']);
  });

  it('refuses duplicates (case-insensitively), bad names, weak passwords and unknown users', async () => {
    const { store } = make();
    await store.add('alice', 'correct horse battery');
    await expect(store.add('Alice', 'correct horse battery')).rejects.toMatchObject({
      code: 'E_USER_EXISTS',
    });
    await expect(store.add('bad name', 'correct horse battery')).rejects.toMatchObject({
      code: 'E_BAD_USER',
    });
    await expect(store.add('carol', 'short')).rejects.toMatchObject({ code: 'E_WEAK_PASSWORD' });
    await expect(store.remove('nobody')).rejects.toMatchObject({ code: 'E_USER_UNKNOWN' });
    await expect(store.setPassword('nobody', 'correct horse battery')).rejects.toMatchObject({
      code: 'E_USER_UNKNOWN',
    });
  });

  it('sees changes another process made to the file (no stale cache)', async () => {
    const { file, store } = make();
    await store.add('alice', 'correct horse battery');
    const other = new FileAdminUserStore(file, { scrypt: TEST_SCRYPT });
    await other.remove('alice');
    expect(await store.stamp('alice')).toBeUndefined();
  });

  it('a damaged file is a clear error, never a silent empty list', async () => {
    const { file, store } = make();
    await store.add('alice', 'correct horse battery');
    writeFileSync(file, '{"version":1,"users":[{"name":"alice","hash":"md5$abc"}]}');
    await expect(store.list()).rejects.toMatchObject({
      code: 'E_ADMIN_USERS',
      message: expect.stringContaining('damaged'),
    });
    writeFileSync(file, 'not json');
    await expect(store.verify('alice', 'x')).rejects.toMatchObject({ code: 'E_ADMIN_USERS' });
  });

  it('a missing file means no users yet', async () => {
    const { store } = make();
    expect(await store.list()).toEqual([]);
  });
});
