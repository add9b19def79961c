/**
 * Whole-buffer age encryption and decryption (no compression). sealBuffer/openBuffer wrap these
 * around zstd; tests use them directly to hit exact payload chunk boundaries.
 */
import { randomBytes } from 'node:crypto';
import { FILE_KEY_BYTES, buildHeader, parseHeader, unwrapFileKey } from './age-header.js';
import {
  PAYLOAD_NONCE_BYTES,
  PayloadOpener,
  PayloadSealer,
  SEALED_CHUNK_BYTES,
  TAG_BYTES,
  sealedPayloadSize,
} from './age-payload.js';
import { corruptError, wrongIdentityError, type ObjectContext } from './errors.js';
import type { Identity, Recipient } from './keys.js';

/** Encrypts `plain` to `recipients` as one age v1 file. */
export function encryptAge(plain: Uint8Array, recipients: Recipient[]): Buffer {
  return encryptAgeWith(plain, recipients, (n) => Buffer.allocUnsafe(n))!;
}

/**
 * Encrypts into memory from `alloc(size)` (which may hand out a reused buffer at least that long)
 * and returns the view holding the age file; null, with nothing encrypted, when `alloc` gives null.
 */
export function encryptAgeWith(
  plain: Uint8Array,
  recipients: Recipient[],
  alloc: (size: number) => Uint8Array | null,
): Buffer | null {
  const fileKey = randomBytes(FILE_KEY_BYTES);
  const header = buildHeader(fileKey, recipients);
  // The size is known exactly: every piece is copied straight into its place.
  const size = header.length + sealedPayloadSize(plain.length);
  const mem = alloc(size);
  if (!mem) return null;
  const out = Buffer.from(mem.buffer, mem.byteOffset, size);
  header.copy(out, 0);
  let pos = header.length;
  const sealer = new PayloadSealer(fileKey, randomBytes(PAYLOAD_NONCE_BYTES), (b) => {
    b.copy(out, pos);
    pos += b.length;
  });
  sealer.write(plain);
  sealer.end();
  if (pos !== out.length) throw new Error(`internal: wrote ${pos} bytes, expected ${out.length}`);
  return out;
}

/** Parses the header and returns the file key; errors say corrupt (IntegrityError) or wrong identity. */
export function openAgeHeader(
  buf: Buffer,
  final: boolean,
  identities: Identity[],
  ctx: ObjectContext,
): { fileKey: Buffer; length: number } | null {
  const header = parseHeader(buf, final, ctx);
  if (!header) return null;
  const fileKey = unwrapFileKey(header, identities, ctx);
  if (!fileKey) throw wrongIdentityError(identities, ctx);
  return { fileKey, length: header.length };
}

/** Decrypts a whole age v1 file. */
export function decryptAge(sealed: Uint8Array, identities: Identity[], ctx: ObjectContext = {}): Buffer {
  return decryptAgeWith(sealed, identities, ctx, (n) => Buffer.allocUnsafe(n));
}

/**
 * Decrypts a whole age v1 file into memory from `alloc(plainBytes)` (which may hand out a reused
 * scratch buffer at least that long) and returns the view holding the plaintext.
 */
export function decryptAgeWith(
  sealed: Uint8Array,
  identities: Identity[],
  ctx: ObjectContext,
  alloc: (plainBytes: number) => Buffer,
): Buffer {
  const buf = Buffer.isBuffer(sealed)
    ? sealed
    : Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const { fileKey, length } = openAgeHeader(buf, true, identities, ctx)!;
  const payload = buf.subarray(length);
  // Plaintext size follows from the payload size; the opener refuses any size that does not fit
  // the chunk structure before we would write past the end.
  const body = Math.max(0, payload.length - PAYLOAD_NONCE_BYTES);
  const size = Math.max(0, body - Math.ceil(body / SEALED_CHUNK_BYTES) * TAG_BYTES);
  const out = alloc(size).subarray(0, size);
  let pos = 0;
  const opener = new PayloadOpener(
    fileKey,
    (p) => {
      if (pos + p.length > out.length) throw corruptError('the payload is longer than its chunks allow', ctx);
      p.copy(out, pos);
      pos += p.length;
    },
    ctx,
  );
  opener.write(payload);
  opener.end();
  if (pos !== out.length) throw corruptError('the payload is shorter than its chunks allow', ctx);
  return out;
}
