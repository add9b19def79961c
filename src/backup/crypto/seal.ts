/**
 * Sealed objects: age v1 (X25519) around a zstd stream, so that without safetynet
 * `age -d -i IDENTITY_FILE OBJECT | zstd -d` still gives the data back.
 *
 * Whole-buffer functions for parts that fit in memory (the backup engine's ~8 MiB parts, used by
 * SealPool's workers), and Transform streams with bounded memory for anything larger.
 */
import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ConfigError, SafetynetError, ExitCode } from '../../errors.js';
import { decryptAge, decryptAgeWith, encryptAge, encryptAgeWith, openAgeHeader } from './age.js';
import { FILE_KEY_BYTES, buildHeader, MAX_HEADER_BYTES } from './age-header.js';
import { PAYLOAD_NONCE_BYTES, PayloadOpener, PayloadSealer } from './age-payload.js';
import type { ObjectContext } from './errors.js';
import type { Identity, Recipient } from './keys.js';
import {
  DEFAULT_ZSTD_LEVEL,
  ZstdCompressor,
  ZstdDecompressor,
  checkLevel,
  compressToScratch,
  decompressAll,
  decompressInto,
  frameInfo,
} from './zstd.js';

export interface SealOptions {
  /** zstd level (default DEFAULT_ZSTD_LEVEL). */
  level?: number;
}

export interface OpenOptions extends ObjectContext {
  /** Refuse objects that decompress to more than this many bytes (a guard against zstd bombs). */
  maxPlainBytes?: number;
}

function requireRecipients(recipients: Recipient[]): void {
  if (!Array.isArray(recipients) || recipients.length === 0) {
    throw new ConfigError('E_NO_RECIPIENTS', 'there is no recipient to seal backups to', {
      hint: 'run `safetynet keygen` and put the printed "age1…" public key in backup.recipients',
    });
  }
}

function requireIdentities(identities: Identity[]): void {
  if (!Array.isArray(identities) || identities.length === 0) {
    throw new SafetynetError('E_IDENTITY_MISSING', 'no identity was given to open backup objects', {
      hint: 'set backup.identity to the identity file written by `safetynet keygen`',
      exitCode: ExitCode.usage,
    });
  }
}

/** Compresses `plain` with zstd and encrypts the result to `recipients` as one age file. */
export function sealBuffer(plain: Uint8Array, recipients: Recipient[], opts: SealOptions = {}): Buffer {
  requireRecipients(recipients);
  const level = checkLevel(opts.level ?? DEFAULT_ZSTD_LEVEL);
  return encryptAge(compressToScratch(plain, level), recipients);
}

/**
 * Like sealBuffer, but writes the sealed object into `out` and returns its length, or -1 (nothing
 * written) when it would not fit: callers keep a few reused buffers and fall back to sealBuffer.
 */
export function sealInto(
  plain: Uint8Array,
  out: Uint8Array,
  recipients: Recipient[],
  opts: SealOptions = {},
): number {
  requireRecipients(recipients);
  const level = checkLevel(opts.level ?? DEFAULT_ZSTD_LEVEL);
  const compressed = compressToScratch(plain, level);
  const sealed = encryptAgeWith(compressed, recipients, (n) => (n <= out.length ? out : null));
  return sealed ? sealed.length : -1;
}

/**
 * Decrypts and decompresses a sealed object. Throws E_OBJECT_CORRUPT (IntegrityError) for any
 * damage, E_IDENTITY_WRONG when no identity is among its recipients.
 */
export function openBuffer(sealed: Uint8Array, identities: Identity[], opts: OpenOptions = {}): Buffer {
  requireIdentities(identities);
  return decompressAll(decryptAge(sealed, identities, opts), opts, opts.maxPlainBytes ?? Infinity);
}

// The decrypted (still compressed) bytes of the object being opened by openInto, reused by every
// call on this thread: a part's few MiB would otherwise be fresh memory each time, and on the
// machines we measured, first-touching fresh pages cost more than decrypting them.
let openScratch: Buffer = Buffer.alloc(0);
const MAX_OPEN_SCRATCH_BYTES = 64 * 1024 * 1024;

/**
 * Opens a sealed object into `out` (decrypt into a reused scratch buffer, then decompress straight
 * into `out`) and returns the plaintext length. An object whose plaintext is longer than `out` is
 * refused as corrupt: callers size `out` from what the manifest says the object holds. Errors as
 * openBuffer.
 */
export function openInto(
  sealed: Uint8Array,
  out: Uint8Array,
  identities: Identity[],
  opts: ObjectContext = {},
): number {
  requireIdentities(identities);
  const compressed = decryptAgeWith(sealed, identities, opts, (n) => {
    if (n > MAX_OPEN_SCRATCH_BYTES) return Buffer.allocUnsafe(n); // a one-off: not kept
    if (openScratch.length < n) openScratch = Buffer.allocUnsafe(Math.max(n, 1 << 20));
    return openScratch;
  });
  return decompressInto(compressed, out, opts);
}

// The plaintext buffer of openReusing, kept for the thread's next object.
let plainScratch: Buffer = Buffer.alloc(0);

/**
 * Opens a sealed object whose plaintext size is not known in advance (a file pack) into a buffer
 * this thread reuses for its next call: the result is only valid until then. Objects written by
 * sealBuffer declare their size in their one zstd frame, so the buffer is sized exactly (and kept,
 * up to 64 MiB); anything else is opened into fresh memory. Errors as openBuffer.
 */
export function openReusing(sealed: Uint8Array, identities: Identity[], opts: OpenOptions = {}): Buffer {
  requireIdentities(identities);
  const compressed = decryptAgeWith(sealed, identities, opts, (n) => {
    if (n > MAX_OPEN_SCRATCH_BYTES) return Buffer.allocUnsafe(n);
    if (openScratch.length < n) openScratch = Buffer.allocUnsafe(Math.max(n, 1 << 20));
    return openScratch;
  });
  const { size, frameLen } = frameInfo(compressed);
  const max = opts.maxPlainBytes ?? Infinity;
  if (size === null || frameLen !== compressed.length || size > max || size > MAX_OPEN_SCRATCH_BYTES)
    return decompressAll(compressed, opts, max);
  if (plainScratch.length < size) plainScratch = Buffer.allocUnsafe(Math.max(size, 1 << 20));
  const out = plainScratch.subarray(0, size);
  decompressInto(compressed, out, opts);
  return out;
}

/** A Transform: plaintext in, age(zstd(plaintext)) out, in bounded memory. */
export function createSealStream(recipients: Recipient[], opts: SealOptions = {}): Transform {
  requireRecipients(recipients);
  const level = checkLevel(opts.level ?? DEFAULT_ZSTD_LEVEL);
  const fileKey = randomBytes(FILE_KEY_BYTES);
  // Encrypted bytes are pushed as produced; Transform's own buffering applies backpressure.
  const stream: Transform = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        zstd.write(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        zstd.end();
        sealer.end();
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  const sealer = new PayloadSealer(fileKey, randomBytes(PAYLOAD_NONCE_BYTES), (b) => stream.push(b));
  const zstd = new ZstdCompressor(level, (b) => sealer.write(b));
  stream.push(buildHeader(fileKey, recipients));
  return stream;
}

/** A Transform: a sealed object in, its plaintext out, in bounded memory; errors as openBuffer. */
export function createOpenStream(identities: Identity[], opts: OpenOptions = {}): Transform {
  requireIdentities(identities);
  const zstd = new ZstdDecompressor(opts, opts.maxPlainBytes ?? Infinity);
  // Decrypted chunks of the current input, waiting to be decompressed and pushed.
  let pending: Buffer[] = [];
  let opener: PayloadOpener | null = null;
  let headerBuf: Buffer = Buffer.alloc(0);

  const feedHeader = (chunk: Buffer, final: boolean) => {
    headerBuf = headerBuf.length ? Buffer.concat([headerBuf, chunk]) : chunk;
    // Only the first MAX_HEADER_BYTES can hold a header; parse a bounded prefix.
    const prefix = headerBuf.subarray(0, MAX_HEADER_BYTES);
    const opened = openAgeHeader(prefix, final || headerBuf.length >= MAX_HEADER_BYTES, identities, opts);
    if (!opened) return;
    opener = new PayloadOpener(opened.fileKey, (p) => pending.push(p), opts);
    const rest = headerBuf.subarray(opened.length);
    headerBuf = Buffer.alloc(0);
    opener.write(rest);
  };

  // Backpressure inside one input chunk: decompression may expand it a thousandfold, so stop
  // pushing when the reader is full and resume when it asks for more (Transform calls _read).
  let resume: (() => void) | null = null;
  const drainPending = async () => {
    const chunks = pending;
    pending = [];
    for (const c of chunks) {
      for (const out of zstd.feed(c)) {
        if (!stream.push(out)) await new Promise<void>((r) => (resume = r));
      }
    }
  };

  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        if (opener) opener.write(chunk);
        else feedHeader(chunk, false);
      } catch (err) {
        cb(err as Error);
        return;
      }
      drainPending().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      try {
        if (!opener) feedHeader(Buffer.alloc(0), true);
        opener!.end();
      } catch (err) {
        cb(err as Error);
        return;
      }
      drainPending().then(() => {
        try {
          zstd.end();
          cb();
        } catch (err) {
          cb(err as Error);
        }
      }, cb);
    },
  });
  const baseRead = stream._read.bind(stream);
  stream._read = (size: number) => {
    const r = resume;
    resume = null;
    r?.();
    baseRead(size);
  };
  return stream;
}
