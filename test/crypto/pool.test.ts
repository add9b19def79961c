import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SealPool,
  allocSharedAligned,
  generateIdentity,
  openBuffer,
  parseIdentity,
  parseRecipients,
  sealBuffer,
} from '../../src/backup/crypto/index.js';
import { ConfigError, IntegrityError, SafetynetError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { sh, sha256, testData, writeKeyFile } from './helpers.js';

const key = generateIdentity();
const ids = [parseIdentity(key.identity, 'identity', '/keys/id.txt')];
const recipients = parseRecipients([key.recipient]);

const pools: SealPool[] = [];
function pool(opts: Partial<ConstructorParameters<typeof SealPool>[0]> = {}): SealPool {
  const p = new SealPool({ recipients, identities: ids, workers: 2, ...opts });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('SealPool', () => {
  it('seals parts in parallel; each result matches its input, hashes included, and age | zstd opens it', async () => {
    const p = pool();
    expect(p.size).toBe(Math.min(2, availableParallelism()));
    const parts = Array.from({ length: 6 }, (_, i) => testData(300_000 + i * 70_001, i + 1));
    const sealed = await Promise.all(parts.map((part) => p.seal(part)));
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, key.identity);
    for (let i = 0; i < parts.length; i++) {
      const r = sealed[i]!;
      expect(r.plainSha256).toBe(sha256(parts[i]!));
      expect(r.sealedSha256).toBe(sha256(r.sealed));
      expect(openBuffer(r.sealed, ids).equals(parts[i]!)).toBe(true);
      const file = path.join(dir, `p${i}`);
      writeFileSync(file, r.sealed);
      expect(sh(`age -d -i '${keyFile}' '${file}' | zstd -d`).equals(parts[i]!)).toBe(true);
    }
    const opened = await Promise.all(sealed.map((r) => p.open(r.sealed)));
    opened.forEach((o, i) => {
      expect(o.plain.equals(parts[i]!)).toBe(true);
      expect(o.plainSha256).toBe(sealed[i]!.plainSha256);
    });
  });

  it('errors cross the thread boundary with their class, code and object name', async () => {
    const p = pool();
    const sealed = sealBuffer(testData(100_000, 2), recipients);
    sealed[sealed.length - 5]! ^= 0x10;
    const corrupt = await p.open(sealed, { name: 'db/0001.part' }).catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(IntegrityError);
    expect((corrupt as IntegrityError).code).toBe('E_OBJECT_CORRUPT');
    expect((corrupt as IntegrityError).message).toContain('db/0001.part');

    const other = sealBuffer(Buffer.from('x'), parseRecipients([generateIdentity().recipient]));
    const wrong = await p.open(other).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ConfigError);
    expect((wrong as ConfigError).code).toBe('E_IDENTITY_WRONG');
    expect((wrong as ConfigError).message).toContain('/keys/id.txt');
    // The pool still works after failures.
    expect((await p.open(sealBuffer(Buffer.from('ok'), recipients))).plain.toString()).toBe('ok');
  });

  it('copies its input by default and moves it with { transfer: true }', async () => {
    const p = pool();
    const a = Buffer.from(testData(200_000, 3)); // owns its ArrayBuffer
    await p.seal(a);
    expect(a.length).toBe(200_000);
    const b = Buffer.from(testData(200_000, 3));
    const r = await p.seal(b, { transfer: true });
    expect(b.length).toBe(0); // detached: the memory moved to the worker
    expect(r.plainSha256).toBe(sha256(a));
    // A small pooled Buffer is copied even with transfer (its ArrayBuffer is shared).
    const small = Buffer.from('tiny');
    await p.seal(small, { transfer: true });
    expect(small.toString()).toBe('tiny');
  });

  it('sealInto seals shared input in place into shared memory; what does not fit comes back fresh', async () => {
    const p = pool();
    const memory = allocSharedAligned(4 * 1024 * 1024);
    const plainSlot = new Uint8Array(memory, 0, 2 * 1024 * 1024);
    const out = new Uint8Array(memory, 2 * 1024 * 1024, 2 * 1024 * 1024);
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, key.identity);
    for (const [i, part] of [testData(1_500_000, 7), Buffer.alloc(1_900_000, 1)].entries()) {
      plainSlot.set(part);
      const input = plainSlot.subarray(0, part.length);
      const r = await p.sealInto(input, out);
      expect(r.inPlace).toBe(true);
      expect(r.sealed.buffer).toBe(memory);
      expect(input.length).toBe(part.length); // shared input is read in place, never detached
      expect(r.plainSha256).toBe(sha256(part));
      expect(r.sealedSha256).toBe(sha256(r.sealed));
      const file = path.join(dir, `s${i}`);
      writeFileSync(file, r.sealed);
      expect(sh(`age -d -i '${keyFile}' '${file}' | zstd -d`).equals(part)).toBe(true);
    }
    // Incompressible data larger than `out`: sealed anyway, into fresh memory.
    const big = randomBytes(2_500_000);
    const r = await p.sealInto(Buffer.from(big), out, { transfer: true });
    expect(r.inPlace).toBe(false);
    expect(r.sealed.buffer).not.toBe(memory);
    expect(openBuffer(r.sealed, ids).equals(big)).toBe(true);
    await expect(p.sealInto(Buffer.from('x'), Buffer.alloc(100))).rejects.toThrow(/SharedArrayBuffer/);
  });

  it('openInto opens into shared memory in place, reusing it; refuses other memory and oversized plaintext', async () => {
    const p = pool();
    const parts = [testData(900_000, 5), testData(700_000, 6), Buffer.alloc(1_000_000, 0)];
    const sealedParts = parts.map((x) => sealBuffer(x, recipients));
    const memory = allocSharedAligned(2 * 1024 * 1024);
    const sealedSlot = new Uint8Array(memory, 0, 1024 * 1024);
    const plainSlot = new Uint8Array(memory, 1024 * 1024, 1024 * 1024);
    for (const [i, sealed] of sealedParts.entries()) {
      sealedSlot.set(sealed);
      const r = await p.openInto(sealedSlot.subarray(0, sealed.length), plainSlot, { name: `part-${i}` });
      expect(r.plainBytes).toBe(parts[i]!.length);
      expect(r.plainSha256).toBe(sha256(parts[i]!));
      expect(Buffer.from(plainSlot.subarray(0, r.plainBytes)).equals(parts[i]!)).toBe(true);
    }
    // Memory the workers cannot share is refused before anything is posted.
    await expect(p.openInto(Buffer.from(sealedParts[0]!), plainSlot)).rejects.toThrow(/SharedArrayBuffer/);
    // A plaintext longer than the space given is damage (or a zstd bomb), never a partial result.
    sealedSlot.set(sealedParts[2]!);
    const small = plainSlot.subarray(0, 999_999);
    const err = await p
      .openInto(sealedSlot.subarray(0, sealedParts[2]!.length), small, { name: 'big' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).code).toBe('E_OBJECT_CORRUPT');
    expect((err as IntegrityError).message).toContain('big');
    // A damaged object fails as open does.
    const damaged = Buffer.from(sealedParts[1]!);
    damaged[damaged.length - 100]! ^= 1;
    sealedSlot.set(damaged);
    await expect(p.openInto(sealedSlot.subarray(0, damaged.length), plainSlot)).rejects.toMatchObject({
      code: 'E_OBJECT_CORRUPT',
    });
  });

  it('refuses open without identities, seal without recipients, and work after close', async () => {
    const noIds = pool({ identities: [] });
    await expect(noIds.open(Buffer.from('x'))).rejects.toMatchObject({ code: 'E_IDENTITY_MISSING' });
    const noRecipients = pool({ recipients: [] });
    await expect(noRecipients.seal(Buffer.from('x'))).rejects.toMatchObject({ code: 'E_NO_RECIPIENTS' });

    const p = pool();
    const inFlight = p.seal(testData(2_000_000, 4));
    const closing = p.close();
    await expect(inFlight).resolves.toMatchObject({ plainSha256: expect.any(String) });
    await closing;
    const late = await p.seal(Buffer.from('x')).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(SafetynetError);
    expect((late as SafetynetError).code).toBe('E_POOL_CLOSED');
  });

  it('an idle pool does not keep the process alive when close() is forgotten', () => {
    const dir = tempDir();
    const script = path.join(dir, 'forget.mts');
    const index = pathToFileURL(
      fileURLToPath(new URL('../../src/backup/crypto/index.ts', import.meta.url)),
    ).href;
    writeFileSync(
      script,
      `import { SealPool, generateIdentity, parseRecipients } from ${JSON.stringify(index)};
       const p = new SealPool({ recipients: parseRecipients([generateIdentity().recipient]), workers: 2 });
       const r = await p.seal(Buffer.alloc(1000));
       console.log(r.sealed.length > 0 ? 'sealed' : 'empty');`,
    );
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('sealed');
    expect(r.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
