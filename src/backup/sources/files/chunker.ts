/**
 * Content-defined chunking (FastCDC with normalised chunking, 32-bit gear hash) for files larger
 * than CHUNK_MIN_BYTES; smaller files are one blob each and never pass through here.
 *
 * Why content-defined rather than fixed-size: the files that grow or change in a shop (exports,
 * logs kept beside invoices, a catalogue PDF regenerated with one page inserted) keep most of
 * their chunks when bytes are inserted, where fixed-size chunks would all shift. The cost is a
 * hash step per byte of large files only (~1 GB/s here), and images and invoices are below the
 * minimum, so the common case pays nothing.
 *
 * The gear table is fixed (derived from a constant), so cut points depend only on the content:
 * the same file chunks the same way on every machine and after the blob key is lost. Chunk
 * lengths are not visible in the repository (blobs sit inside sealed packs), so a secret table
 * would hide nothing. Cut points do not depend on how the input is split into pushes.
 */
import { createHash } from 'node:crypto';

export const CHUNK_MIN_BYTES = 512 * 1024;
export const CHUNK_AVG_BYTES = 1024 * 1024;
export const CHUNK_MAX_BYTES = 8 * 1024 * 1024;

/** A 32-bit gear table from SHA-256 in counter mode over a fixed label. */
const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i += 8) {
    const d = createHash('sha256').update(`safetynet-fastcdc-gear-${i}`).digest();
    for (let k = 0; k < 8; k++) t[i + k] = d.readUInt32BE(k * 4);
  }
  return t;
})();

/**
 * Masks with their bits in the high half of the word: with a shift-by-one gear hash, bit k of the
 * hash depends on the last k+1 bytes, so high bits see a 32-byte window. 22 bits before the
 * average size (harder to cut), 18 after (easier), for an average of about 1 MiB.
 */
const MASK_SMALL = 0xfffffc00; // 22 bits
const MASK_LARGE = 0xffffc000; // 18 bits

/** Splits a byte stream into content-defined chunks with bounded memory (at most CHUNK_MAX_BYTES held). */
export class Chunker {
  private parts: Buffer[] = [];
  private size = 0;
  private hash = 0;

  constructor(
    private readonly min = CHUNK_MIN_BYTES,
    private readonly avg = CHUNK_AVG_BYTES,
    private readonly max = CHUNK_MAX_BYTES,
  ) {}

  /** Feeds bytes; returns the chunks completed by them (new buffers the caller owns). */
  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    while (start < data.length) {
      const cut = this.findCut(data, start);
      if (cut === -1) {
        this.parts.push(data.subarray(start));
        this.size += data.length - start;
        break;
      }
      this.parts.push(data.subarray(start, cut));
      this.size += cut - start;
      out.push(this.take());
      start = cut;
    }
    // Keep our own copy of what is still pending, so callers may reuse their read buffer.
    if (this.parts.length) {
      const last = this.parts[this.parts.length - 1]!;
      if (last.buffer === data.buffer) this.parts[this.parts.length - 1] = Buffer.from(last);
    }
    return out;
  }

  /** The last chunk (undefined when nothing is pending). */
  end(): Buffer | undefined {
    return this.size > 0 ? this.take() : undefined;
  }

  private take(): Buffer {
    const chunk =
      this.parts.length === 1 ? Buffer.from(this.parts[0]!) : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.hash = 0;
    return chunk;
  }

  /** Index in `data` just after a cut point, or -1 when the chunk continues past `data`. */
  private findCut(data: Buffer, start: number): number {
    let pos = this.size; // bytes of the current chunk before data[start]
    let i = start;
    // Below the minimum no cut is allowed and the hash need not be computed: skip ahead, then
    // prime the hash over the last 32 bytes before the minimum (the window the masks look at).
    const skipTo = this.min - 32;
    if (pos < skipTo) {
      const skip = Math.min(skipTo - pos, data.length - i);
      i += skip;
      pos += skip;
      if (pos < skipTo) return -1;
    }
    let h = this.hash;
    const n = data.length;
    const { min, avg, max } = this;
    while (i < n) {
      h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
      i++;
      pos++;
      if (pos < min) continue;
      if (pos >= max) {
        this.hash = 0;
        return i;
      }
      if ((h & (pos < avg ? MASK_SMALL : MASK_LARGE)) === 0) {
        this.hash = 0;
        return i;
      }
    }
    this.hash = h;
    return -1;
  }
}
