/**
 * The age payload: a 16-byte nonce, then the plaintext in 64 KiB chunks, each sealed with
 * ChaCha20-Poly1305 under the payload key with nonce = 11-byte big-endian counter || last flag.
 *
 * Speed: node:crypto (OpenSSL) seals one 64 KiB chunk per cipher object; that is ~1 GiB/s here,
 * where one cipher over a huge buffer is far slower (DESIGN.md §5). Both directions work
 * incrementally with bounded memory: one chunk is held back until we know whether it is the last.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { hkdf } from './age-header.js';
import { corruptError, type ObjectContext } from './errors.js';

export const CHUNK_BYTES = 64 * 1024;
export const TAG_BYTES = 16;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
export const PAYLOAD_NONCE_BYTES = 16;

/** The payload key for a file key and payload nonce. */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdf(fileKey, nonce, 'payload');
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  // 11-byte big-endian counter; 2^53 chunks (512 EiB) is more than any object will ever hold.
  n.writeUInt32BE(Math.floor(counter / 2 ** 32), 3);
  n.writeUInt32BE(counter >>> 0, 7);
  n[11] = last ? 1 : 0;
  return n;
}

/** Seals one chunk; returns [ciphertext, tag]. */
export function sealChunk(key: Buffer, counter: number, last: boolean, plain: Uint8Array): [Buffer, Buffer] {
  const c = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  const ct = c.update(plain);
  c.final();
  return [ct, c.getAuthTag()];
}

/** Opens one sealed chunk (ciphertext || tag); null when authentication fails. */
export function openChunk(key: Buffer, counter: number, last: boolean, sealed: Uint8Array): Buffer | null {
  const d = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), {
    authTagLength: TAG_BYTES,
  });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const pt = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    d.final();
  } catch {
    return null;
  }
  return pt;
}

/** Exact size of the sealed payload (nonce included) for a plaintext length. */
export function sealedPayloadSize(plainLength: number): number {
  const chunks = Math.max(1, Math.ceil(plainLength / CHUNK_BYTES));
  return PAYLOAD_NONCE_BYTES + plainLength + chunks * TAG_BYTES;
}

/**
 * Incremental payload sealer. `write` and `end` hand sealed bytes to `sink` (buffers the caller may
 * keep). A full chunk is held back until more data arrives, because only then is it known not to be
 * the last one.
 */
export class PayloadSealer {
  private readonly key: Buffer;
  private readonly stage = Buffer.allocUnsafe(CHUNK_BYTES);
  private fill = 0;
  private counter = 0;
  private ended = false;
  private readonly nonce: Buffer;

  constructor(
    fileKey: Uint8Array,
    nonce: Uint8Array,
    private readonly sink: (sealed: Buffer) => void,
  ) {
    this.nonce = Buffer.from(nonce);
    this.key = payloadKey(fileKey, nonce);
  }

  private emit(plain: Uint8Array, last: boolean): void {
    // The nonce goes out with the first chunk, so the caller can write the header before it.
    if (this.counter === 0) this.sink(this.nonce);
    const [ct, tag] = sealChunk(this.key, this.counter++, last, plain);
    this.sink(ct);
    this.sink(tag);
  }

  /** Adds plaintext; the view is only read during the call. */
  write(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      if (this.fill === CHUNK_BYTES) {
        this.emit(this.stage, false);
        this.fill = 0;
      }
      // Whole chunks with more data after them go straight from the input, without staging.
      if (this.fill === 0 && data.length - off > CHUNK_BYTES) {
        this.emit(data.subarray(off, off + CHUNK_BYTES), false);
        off += CHUNK_BYTES;
        continue;
      }
      const n = Math.min(CHUNK_BYTES - this.fill, data.length - off);
      this.stage.set(data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
    }
  }

  /** Seals the final chunk (empty only when the whole payload is empty, as the spec allows). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit(this.stage.subarray(0, this.fill), true);
  }
}

/**
 * Incremental payload opener: the inverse of PayloadSealer, with every check the spec asks for
 * (authentication of each chunk, a final chunk present, no empty final chunk after others, nothing
 * after the final chunk). `sink` receives plaintext buffers the caller may keep.
 */
export class PayloadOpener {
  private key: Buffer | null = null;
  private readonly nonce = Buffer.allocUnsafe(PAYLOAD_NONCE_BYTES);
  private nonceFill = 0;
  private readonly stage = Buffer.allocUnsafe(SEALED_CHUNK_BYTES);
  private fill = 0;
  private counter = 0;
  private finished = false;

  constructor(
    private readonly fileKey: Uint8Array,
    private readonly sink: (plain: Buffer) => void,
    private readonly ctx: ObjectContext = {},
  ) {}

  private open(sealed: Uint8Array, last: boolean): void {
    const pt = openChunk(this.key!, this.counter, last, sealed);
    if (!pt) {
      if (!last && openChunk(this.key!, this.counter, true, sealed)) {
        throw corruptError(
          `data follows the final chunk (chunk ${this.counter}): trailing bytes were appended`,
          this.ctx,
        );
      }
      if (last && sealed.length === SEALED_CHUNK_BYTES && openChunk(this.key!, this.counter, false, sealed)) {
        throw corruptError(
          `it ends after chunk ${this.counter}, which is not the final chunk (truncated)`,
          this.ctx,
        );
      }
      throw corruptError(
        `payload chunk ${this.counter} fails authentication (damaged, cut short, or followed by extra bytes)`,
        this.ctx,
      );
    }
    if (last && pt.length === 0 && this.counter > 0) {
      throw corruptError('the final payload chunk is empty, which age forbids', this.ctx);
    }
    this.counter++;
    if (pt.length) this.sink(pt);
  }

  /** Adds sealed payload bytes (the view is only read during the call). */
  write(data: Uint8Array): void {
    if (this.finished) throw corruptError('data follows the final chunk', this.ctx);
    let off = 0;
    if (this.nonceFill < PAYLOAD_NONCE_BYTES) {
      const n = Math.min(PAYLOAD_NONCE_BYTES - this.nonceFill, data.length);
      this.nonce.set(data.subarray(0, n), this.nonceFill);
      this.nonceFill += n;
      off = n;
      if (this.nonceFill < PAYLOAD_NONCE_BYTES) return;
      this.key = payloadKey(this.fileKey, this.nonce);
    }
    while (off < data.length) {
      if (this.fill === SEALED_CHUNK_BYTES) {
        // More bytes exist, so the staged chunk is not the last.
        this.open(this.stage, false);
        this.fill = 0;
      }
      if (this.fill === 0 && data.length - off > SEALED_CHUNK_BYTES) {
        this.open(data.subarray(off, off + SEALED_CHUNK_BYTES), false);
        off += SEALED_CHUNK_BYTES;
        continue;
      }
      const n = Math.min(SEALED_CHUNK_BYTES - this.fill, data.length - off);
      this.stage.set(data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
    }
  }

  /** Call at end of input: opens the final chunk, or fails if the payload was cut short. */
  end(): void {
    if (this.finished) return;
    if (this.nonceFill < PAYLOAD_NONCE_BYTES)
      throw corruptError('it ends before the payload starts (truncated)', this.ctx);
    if (this.fill === 0) {
      throw corruptError(
        this.counter === 0
          ? 'the payload is missing (truncated)'
          : 'the final payload chunk is missing (truncated)',
        this.ctx,
      );
    }
    if (this.fill < TAG_BYTES)
      throw corruptError('the last payload chunk is cut short (truncated)', this.ctx);
    this.open(this.stage.subarray(0, this.fill), true);
    this.finished = true;
  }
}
