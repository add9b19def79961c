import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  generateIdentity,
  identityToRecipient,
  loadIdentities,
  parseIdentity,
  parseRecipients,
} from '../../src/backup/crypto/index.js';
import { bech32Decode, bech32Encode } from '../../src/backup/crypto/bech32.js';
import { b64decode, b64encode } from '../../src/backup/crypto/base64.js';
import { ConfigError, SafetynetError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { ageKeygen, sh } from './helpers.js';

// The example key pair from the age spec (c2sp.org/age, "The X25519 recipient type").
const SPEC_IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
const SPEC_RECIPIENT = 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SafetynetError ? err.code : `not a SafetynetError: ${String(err)}`;
  }
  return undefined;
}

describe('bech32 and base64', () => {
  it('round-trips and rejects mixed case, bad checksums and bad padding', () => {
    const data = Buffer.from('00ff10203040506070', 'hex');
    const s = bech32Encode('age', data);
    expect(bech32Decode(s)).toEqual({ hrp: 'age', data });
    expect(bech32Decode(s.toUpperCase())).toEqual({ hrp: 'age', data });
    expect(bech32Decode(s.slice(0, 5) + s[5]!.toUpperCase() + s.slice(6))).toBeNull();
    const flipped = s.slice(0, -1) + (s.endsWith('q') ? 'p' : 'q');
    expect(bech32Decode(flipped)).toBeNull();
    expect(bech32Decode('age1')).toBeNull();
  });

  it('accepts only canonical unpadded base64', () => {
    expect(b64encode(Buffer.from('ab'))).toBe('YWI');
    expect(b64decode('YWI')).toEqual(Buffer.from('ab'));
    expect(b64decode('YWI=')).toBeNull(); // padding
    expect(b64decode('YWJ')).toBeNull(); // non-zero trailing bits: not canonical
    expect(b64decode('YW I')).toBeNull();
    expect(b64decode('Y')).toBeNull();
  });
});

describe('keys', () => {
  it('derives the spec example recipient from the spec example identity', () => {
    expect(identityToRecipient(SPEC_IDENTITY)).toBe(SPEC_RECIPIENT);
  });

  it('generates identities that age-keygen -y maps to the same recipient', () => {
    const dir = tempDir();
    const { identity, recipient } = generateIdentity();
    expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect(identityToRecipient(identity)).toBe(recipient);
    const file = path.join(dir, 'k.txt');
    writeFileSync(file, identity + '\n');
    expect(sh(`age-keygen -y '${file}'`).toString().trim()).toBe(recipient);
  });

  it('loads identity files written by age-keygen', async () => {
    const dir = tempDir();
    const k = ageKeygen(dir);
    const ids = await loadIdentities(k.file);
    expect(ids).toHaveLength(1);
    expect(ids[0]!.recipient).toBe(k.recipient);
    expect(ids[0]!.source).toBe(k.file);
  });

  it('reads several identities, skipping comments, blank lines and CRLF', async () => {
    const dir = tempDir();
    const a = generateIdentity();
    const b = generateIdentity();
    const file = path.join(dir, 'ids.txt');
    writeFileSync(file, `# first\r\n${a.identity}\r\n\n   \n# second\n${b.identity}\n`);
    const ids = await loadIdentities(file);
    expect(ids.map((i) => i.recipient)).toEqual([a.recipient, b.recipient]);
  });

  it('never reveals the secret through JSON, inspect or String', () => {
    const { identity } = generateIdentity();
    const id = parseIdentity(identity);
    const secretPart = identity.slice('AGE-SECRET-KEY-1'.length, -6);
    for (const shown of [
      JSON.stringify(id),
      inspect(id, { showHidden: true, depth: 9 }),
      String(id),
      JSON.stringify({ id }),
    ]) {
      expect(shown).not.toContain(secretPart);
      expect(shown.toLowerCase()).not.toContain(secretPart.toLowerCase());
    }
  });

  it('E_IDENTITY_MISSING names the file and how to get one', async () => {
    const file = path.join(tempDir(), 'nope.txt');
    const err = await loadIdentities(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetynetError);
    expect((err as SafetynetError).code).toBe('E_IDENTITY_MISSING');
    expect((err as SafetynetError).message).toContain(file);
    expect((err as SafetynetError).hint).toContain('backup.identity');
    expect((err as SafetynetError).hint).toContain('safetynet keygen');
  });

  it('E_IDENTITY_INVALID for damaged, empty, wrong-kind and unreadable files, without echoing the secret', async () => {
    const dir = tempDir();
    const { identity } = generateIdentity();
    const damaged = identity.slice(0, 30) + (identity[30] === 'Q' ? 'P' : 'Q') + identity.slice(31);
    const cases: Record<string, string> = {
      damaged: `# c\n${damaged}\n`,
      empty: '# only a comment\n\n',
      lower: identity.toLowerCase() + '\n',
      recipient: generateIdentity().recipient + '\n',
      pq: 'AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR\n',
    };
    for (const [name, text] of Object.entries(cases)) {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      const err = (await loadIdentities(file).catch((e: unknown) => e)) as SafetynetError;
      expect(err.code, name).toBe('E_IDENTITY_INVALID');
      expect(err.message, name).toContain(file);
      expect(err.message, name).not.toContain(damaged.slice(16, 40));
    }
    const unreadable = path.join(dir, 'dir');
    sh(`mkdir '${unreadable}'`);
    expect(((await loadIdentities(unreadable).catch((e: unknown) => e)) as SafetynetError).code).toBe(
      'E_IDENTITY_INVALID',
    );
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      writeFileSync(locked, identity);
      chmodSync(locked, 0o000);
      expect(((await loadIdentities(locked).catch((e: unknown) => e)) as SafetynetError).code).toBe(
        'E_IDENTITY_INVALID',
      );
    }
  });

  it('parseRecipients accepts age-keygen recipients and drops duplicates', () => {
    const k = ageKeygen(tempDir());
    const rs = parseRecipients([k.recipient, SPEC_RECIPIENT, k.recipient]);
    expect(rs.map((r) => r.text)).toEqual([k.recipient, SPEC_RECIPIENT]);
    expect(parseRecipients([])).toEqual([]);
  });

  it('E_BAD_RECIPIENT names backup.recipients[i] and never echoes a pasted secret', () => {
    const { identity, recipient } = generateIdentity();
    const bad = (list: string[]) => {
      try {
        parseRecipients(list);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return err as ConfigError;
      }
      throw new Error('accepted');
    };
    const typo = recipient.slice(0, 10) + (recipient[10] === 'q' ? 'p' : 'q') + recipient.slice(11);
    const e1 = bad([recipient, typo]);
    expect(e1.code).toBe('E_BAD_RECIPIENT');
    expect(e1.message).toContain('backup.recipients[1]');
    expect(e1.message).toContain('checksum');
    expect(e1.hint).toContain('safetynet keygen');

    const e2 = bad([identity]);
    expect(e2.message).toContain('backup.recipients[0]');
    expect(e2.message).toContain('secret');
    expect(e2.message).not.toContain(identity.slice(16));

    expect(bad(['age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5']).message).toContain(
      'post-quantum',
    );
    expect(bad([recipient.toUpperCase()]).message).toContain('lower case');
    expect(bad(['ssh-ed25519 AAAA']).code).toBe('E_BAD_RECIPIENT');
    // The all-zero point is low order: every shared secret with it would be zero.
    expect(bad([bech32Encode('age', Buffer.alloc(32))]).message).toContain('low-order');
    // Right checksum, wrong length.
    expect(bad([bech32Encode('age', Buffer.alloc(31, 9))]).message).toContain('31 bytes');
  });

  it('refuses malformed identities with E_IDENTITY_INVALID', () => {
    expect(codeOf(() => identityToRecipient('AGE-SECRET-KEY-1QQQ'))).toBe('E_IDENTITY_INVALID');
    expect(codeOf(() => identityToRecipient(SPEC_RECIPIENT))).toBe('E_IDENTITY_INVALID');
  });
});
