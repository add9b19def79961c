/**
 * Damage of every kind must be reported as E_OBJECT_CORRUPT (an IntegrityError), and a wrong key
 * as E_IDENTITY_WRONG: one flipped bit anywhere, truncation anywhere, trailing data, and the
 * malformed files the age spec tells readers to refuse.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  createOpenStream,
  generateIdentity,
  openBuffer,
  parseIdentity,
  parseRecipients,
  sealBuffer,
  type Identity,
} from '../../src/backup/crypto/index.js';
import { decryptAge, encryptAge } from '../../src/backup/crypto/age.js';
import {
  PAYLOAD_NONCE_BYTES,
  SEALED_CHUNK_BYTES,
  payloadKey,
  sealChunk,
} from '../../src/backup/crypto/age-payload.js';
import { buildHeader, hkdf } from '../../src/backup/crypto/age-header.js';
import { b64encode } from '../../src/backup/crypto/base64.js';
import { IntegrityError, SafetynetError } from '../../src/errors.js';
import { randomish, sh, shStatus, testData, writeKeyFile } from './helpers.js';
import { tempDir } from '../helpers/tmp.js';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';

const key = generateIdentity();
const ids = [parseIdentity(key.identity)];
const recipients = parseRecipients([key.recipient]);

function errorOf(fn: () => unknown): SafetynetError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SafetynetError) return err;
    throw new Error(`expected a SafetynetError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an error, but it opened');
}

function expectCorrupt(fn: () => unknown, label: string): SafetynetError {
  const err = errorOf(fn);
  expect(err, label).toBeInstanceOf(IntegrityError);
  expect(err.code, `${label}: ${err.message}`).toBe('E_OBJECT_CORRUPT');
  return err;
}

async function streamError(sealed: Buffer, identities: Identity[] = ids): Promise<SafetynetError> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < sealed.length; i += 4096) pieces.push(sealed.subarray(i, i + 4096));
  try {
    await buffer(Readable.from(pieces).pipe(createOpenStream(identities)));
  } catch (err) {
    if (err instanceof SafetynetError) return err;
    throw err;
  }
  throw new Error('expected the stream to fail, but it opened');
}

function headerLength(sealed: Buffer): number {
  return sealed.indexOf('\n', sealed.indexOf('\n--- ') + 1) + 1;
}

function flip(buf: Buffer, at: number, mask = 0x01): Buffer {
  const c = Buffer.from(buf);
  c[at]! ^= mask;
  return c;
}

describe('flipped bits', () => {
  // Three full chunks and a short last one, so there is a middle and a last chunk.
  const plain = randomish(3 * 65536 + 1000, 3);
  const sealed = sealBuffer(plain, recipients);
  const hlen = headerLength(sealed);

  it('opens the undamaged object (control)', () => {
    expect(openBuffer(sealed, ids).equals(plain)).toBe(true);
  });

  it('every byte of the header, for a one- and a three-recipient header', () => {
    const three = sealBuffer(
      plain.subarray(0, 1000),
      parseRecipients([generateIdentity().recipient, key.recipient, generateIdentity().recipient]),
    );
    for (const obj of [sealed, three]) {
      const len = headerLength(obj);
      for (let i = 0; i < len; i++) {
        for (const mask of [0x01, 0x80])
          expectCorrupt(() => openBuffer(flip(obj, i, mask), ids), `header byte ${i} ^ ${mask}`);
      }
    }
  });

  it('the header MAC, the payload nonce, chunk bodies and tags, the last chunk', () => {
    const macAt = sealed.indexOf('\n--- ') + 6;
    const positions = {
      mac: macAt,
      nonce: hlen,
      'first chunk body': hlen + PAYLOAD_NONCE_BYTES + 10,
      'first chunk tag': hlen + PAYLOAD_NONCE_BYTES + SEALED_CHUNK_BYTES - 1,
      'middle chunk': hlen + PAYLOAD_NONCE_BYTES + SEALED_CHUNK_BYTES + 30_000,
      'last chunk first byte':
        sealed.length - ((sealed.length - hlen - PAYLOAD_NONCE_BYTES) % SEALED_CHUNK_BYTES),
      'last byte': sealed.length - 1,
    };
    for (const [label, at] of Object.entries(positions)) {
      expectCorrupt(() => openBuffer(flip(sealed, at), ids), label);
    }
  });

  it('the stream reader reports the same damage', async () => {
    for (const at of [5, hlen - 3, hlen + 1, hlen + 100_000, sealed.length - 1]) {
      const err = await streamError(flip(sealed, at));
      expect(err.code, `byte ${at}: ${err.message}`).toBe('E_OBJECT_CORRUPT');
    }
  });

  it('objects from the age CLI (no safetynet hint): damage is still corrupt, not a wrong key', () => {
    const file = sh(`zstd -q -c | age -r ${key.recipient}`, plain);
    const len = headerLength(file);
    expectCorrupt(() => openBuffer(flip(file, len - 5), ids), 'MAC');
    expectCorrupt(() => openBuffer(flip(file, len + 20), ids), 'payload');
    expectCorrupt(() => openBuffer(flip(file, 3), ids), 'version line');
  });

  it('names the object when the caller gives its name', () => {
    const err = expectCorrupt(
      () => openBuffer(flip(sealed, hlen + 40), ids, { name: 'data/ab/abcdef' }),
      'named',
    );
    expect(err.message).toContain('data/ab/abcdef');
    expect(err.details).toMatchObject({ object: 'data/ab/abcdef' });
  });
});

describe('truncation and trailing data', () => {
  const plain = randomish(2 * 65536 + 5, 4);
  const sealed = sealBuffer(plain, recipients);
  const hlen = headerLength(sealed);
  const afterFirstChunk = hlen + PAYLOAD_NONCE_BYTES + SEALED_CHUNK_BYTES;

  it('cut anywhere: inside the header, after it, at a chunk boundary, a byte short', async () => {
    const cuts = [
      0,
      1,
      10,
      hlen - 1,
      hlen,
      hlen + 5,
      hlen + PAYLOAD_NONCE_BYTES,
      afterFirstChunk,
      afterFirstChunk + 8,
      sealed.length - 16,
      sealed.length - 1,
    ];
    for (const n of cuts) {
      expectCorrupt(() => openBuffer(sealed.subarray(0, n), ids), `cut at ${n}`);
      expect((await streamError(sealed.subarray(0, n))).code, `stream cut at ${n}`).toBe('E_OBJECT_CORRUPT');
    }
  });

  it('ending exactly after a full non-final chunk says the final chunk is missing', () => {
    // Exactly 2 chunks of plaintext: cutting after the first leaves a valid non-final chunk.
    const obj = encryptAge(randomish(2 * 65536, 5), recipients);
    const cut = headerLength(obj) + PAYLOAD_NONCE_BYTES + SEALED_CHUNK_BYTES;
    const err = expectCorrupt(() => decryptAge(obj.subarray(0, cut), ids), 'cut after chunk 0');
    expect(err.message).toMatch(/truncated/);
  });

  it('trailing bytes after the final chunk, one or many', async () => {
    for (const extra of [Buffer.from([0]), randomBytes(100), randomBytes(SEALED_CHUNK_BYTES + 3)]) {
      expectCorrupt(() => openBuffer(Buffer.concat([sealed, extra]), ids), `+${extra.length}`);
      expect((await streamError(Buffer.concat([sealed, extra]))).code).toBe('E_OBJECT_CORRUPT');
    }
    const err = expectCorrupt(() => openBuffer(Buffer.concat([sealed, Buffer.from('x')]), ids), 'trailing');
    expect(err.message).toMatch(/extra bytes/);
  });

  it('two objects concatenated are refused, not half-read', () => {
    const small = sealBuffer(Buffer.from('a'), recipients);
    expectCorrupt(() => openBuffer(Buffer.concat([small, small]), ids), 'concatenated');
  });
});

describe('wrong identity', () => {
  const plain = testData(10_000, 8);

  it('E_IDENTITY_WRONG names the identity file and its public key', () => {
    const other = generateIdentity();
    const otherIds = [parseIdentity(other.identity, 'x', '/keys/old-identity.txt')];
    const err = errorOf(() => openBuffer(sealBuffer(plain, recipients), otherIds));
    expect(err.code).toBe('E_IDENTITY_WRONG');
    expect(err.message).toContain("does not match the repository's recipients");
    expect(err.message).toContain('/keys/old-identity.txt');
    expect(err.message).toContain(other.recipient);
    expect(err.hint).toContain('backup.identity');
  });

  it('also for objects made by the age CLI, and through the stream reader', async () => {
    const other = [parseIdentity(generateIdentity().identity)];
    const fromCli = sh(`zstd -q -c | age -r ${key.recipient}`, plain);
    expect(errorOf(() => openBuffer(fromCli, other)).code).toBe('E_IDENTITY_WRONG');
    expect((await streamError(sealBuffer(plain, recipients), other)).code).toBe('E_IDENTITY_WRONG');
  });

  it('no identity at all is E_IDENTITY_MISSING', () => {
    expect(errorOf(() => openBuffer(sealBuffer(plain, recipients), [])).code).toBe('E_IDENTITY_MISSING');
  });
});

describe('files the age spec says to refuse', () => {
  /** Builds an age file by hand from payload chunks: [plaintext, last flag] pairs. */
  function craft(chunks: [Buffer, boolean][]): Buffer {
    const fileKey = randomBytes(16);
    const nonce = randomBytes(16);
    const k = payloadKey(fileKey, nonce);
    const parts = [buildHeader(fileKey, recipients), nonce];
    chunks.forEach(([p, last], i) => parts.push(...sealChunk(k, i, last, p)));
    return Buffer.concat(parts);
  }

  it('control: a hand-made well-formed file opens', () => {
    const a = randomish(65536, 1);
    const b = randomish(10, 2);
    expect(
      decryptAge(
        craft([
          [a, false],
          [b, true],
        ]),
        ids,
      ).equals(Buffer.concat([a, b])),
    ).toBe(true);
    expect(decryptAge(craft([[Buffer.alloc(0), true]]), ids).length).toBe(0);
  });

  it('an empty final chunk after a full one', () => {
    const obj = craft([
      [randomish(65536, 1), false],
      [Buffer.alloc(0), true],
    ]);
    const err = expectCorrupt(() => decryptAge(obj, ids), 'empty final chunk');
    expect(err.message).toContain('empty');
    // The reference implementation refuses it too.
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, key.identity);
    writeFileSync(path.join(dir, 'obj'), obj);
    expect(shStatus(`age -d -i '${keyFile}' '${path.join(dir, 'obj')}'`).status).not.toBe(0);
  });

  it('a short chunk that is not marked final, and a final chunk that is not last', () => {
    expectCorrupt(
      () =>
        decryptAge(
          craft([
            [randomish(100, 1), false],
            [randomish(100, 2), true],
          ]),
          ids,
        ),
      'short non-final',
    );
    const err = expectCorrupt(
      () =>
        decryptAge(
          craft([
            [randomish(65536, 1), true],
            [randomish(100, 2), true],
          ]),
          ids,
        ),
      'final then more',
    );
    expect(err.message).toContain('data follows the final chunk');
    expectCorrupt(() => decryptAge(craft([[randomish(65536, 1), false]]), ids), 'no final chunk');
  });

  it('malformed headers: weak share, wrong argument counts, wrong sizes, non-canonical base64, no stanza', () => {
    const fileKey = randomBytes(16);
    const nonceAndChunk = Buffer.concat([randomBytes(16), randomBytes(40)]);
    /** A header with a correct MAC around the given stanza lines. */
    const withMac = (stanzas: string) => {
      const text = `age-encryption.org/v1\n${stanzas}---`;
      const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
        .update(text)
        .digest();
      return Buffer.concat([Buffer.from(`${text} ${b64encode(mac)}\n`), nonceAndChunk]);
    };
    const body = b64encode(randomBytes(32));
    const share = b64encode(randomBytes(32));
    // Each case with the reason it must be refused for (so it fails for the intended reason).
    const cases: Record<string, [Buffer, string]> = {
      'all-zero ephemeral share (low order)': [
        withMac(`-> X25519 ${b64encode(Buffer.alloc(32))}\n${body}\n`),
        'weak',
      ],
      'three arguments': [withMac(`-> X25519 ${share} extra\n${body}\n`), 'malformed X25519 stanza'],
      'share of 31 bytes': [
        withMac(`-> X25519 ${b64encode(randomBytes(31))}\n${body}\n`),
        'malformed X25519 stanza',
      ],
      'body of 40 bytes': [withMac(`-> X25519 ${share}\n${b64encode(randomBytes(40))}\n`), 'not 32 bytes'],
      'padded base64': [withMac(`-> X25519 ${share}=\n${body}\n`), 'malformed X25519 stanza'],
      'no stanza': [withMac(''), 'no recipient stanza'],
      'body line of 65 columns': [withMac(`-> X25519 ${share}\n${'A'.repeat(65)}\n\n`), 'longer than 64'],
      'empty argument': [withMac(`-> X25519  ${share}\n${body}\n`), 'malformed stanza line'],
      'CRLF line ends': [
        Buffer.from(`age-encryption.org/v1\r\n-> X25519 ${share}\r\n${body}\r\n--- ${body}\r\n`),
        'version',
      ],
      'armored file': [
        Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n'),
        'ASCII-armored',
      ],
      'other version': [
        Buffer.from(`age-encryption.org/v2\n-> X25519 ${share}\n${body}\n--- ${body}\n`),
        'version',
      ],
      'not age at all': [
        Buffer.concat([Buffer.from('SQLite format 3\0'), randomBytes(1000)]),
        'not an age file',
      ],
      empty: [Buffer.alloc(0), 'truncated'],
    };
    for (const [label, [obj, why]] of Object.entries(cases)) {
      expect(expectCorrupt(() => openBuffer(obj, ids), label).message, label).toContain(why);
    }
  });

  it('a valid age file whose plaintext is not zstd, or a cut-short zstd stream', () => {
    expectCorrupt(
      () => openBuffer(encryptAge(Buffer.from('plain text, not zstd'), recipients), ids),
      'not zstd',
    );
    const zst = sh('zstd -q -c', testData(100_000, 3));
    expectCorrupt(
      () => openBuffer(encryptAge(zst.subarray(0, zst.length - 10), recipients), ids),
      'cut zstd',
    );
    expectCorrupt(() => openBuffer(encryptAge(Buffer.alloc(0), recipients), ids), 'empty plaintext');
  });

  it('maxPlainBytes stops a decompression bomb', () => {
    const bomb = sealBuffer(Buffer.alloc(50 << 20), recipients);
    expect(bomb.length).toBeLessThan(10_000);
    const err = expectCorrupt(() => openBuffer(bomb, ids, { maxPlainBytes: 1 << 20 }), 'bomb');
    expect(err.message).toContain('more than');
  });
});
