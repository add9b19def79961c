/**
 * The plaintext of an incremental point's parts: a sequence of page records, each
 * [page number: uint32 big-endian][page bytes: pageSize]. Applying a point = writing each page at
 * offset (n-1) × pageSize, then truncating the file to pageCount × pageSize. Simple enough to apply
 * with a ten-line script if safetynet is gone (docs/disaster-recovery.md shows one).
 */
import { SafetynetError } from '../../../errors.js';

export const PAGE_NUMBER_BYTES = 4;

/** Accumulates changed pages and cuts them into parts of about `targetBytes`. */
export class DeltaPartBuilder {
  private buf: Buffer;
  private used = 0;
  private pagesInPart = 0;

  constructor(
    private readonly pageSize: number,
    private readonly targetBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(this.capacity());
  }

  private capacity(): number {
    const rec = PAGE_NUMBER_BYTES + this.pageSize;
    return Math.max(1, Math.floor(this.targetBytes / rec)) * rec;
  }

  /** Adds a page; returns a finished part when it is full. */
  add(pageNo: number, page: Buffer): { part: Buffer; pages: number } | undefined {
    this.buf.writeUInt32BE(pageNo, this.used);
    page.copy(this.buf, this.used + PAGE_NUMBER_BYTES);
    this.used += PAGE_NUMBER_BYTES + this.pageSize;
    this.pagesInPart++;
    return this.used >= this.buf.length ? this.take() : undefined;
  }

  /** The last, partial part (if any). */
  finish(): { part: Buffer; pages: number } | undefined {
    return this.used > 0 ? this.take() : undefined;
  }

  private take(): { part: Buffer; pages: number } {
    const part = this.used === this.buf.length ? this.buf : Buffer.from(this.buf.subarray(0, this.used));
    const pages = this.pagesInPart;
    this.buf = Buffer.allocUnsafe(this.capacity());
    this.used = 0;
    this.pagesInPart = 0;
    return { part, pages };
  }
}

/** Iterates the page records of a part, checking its shape. */
export function* readDeltaPart(
  part: Buffer,
  pageSize: number,
  name: string,
): Generator<{ pageNo: number; page: Buffer }> {
  const rec = PAGE_NUMBER_BYTES + pageSize;
  if (part.length % rec !== 0) {
    throw new SafetynetError(
      'E_OBJECT_CORRUPT',
      `incremental part ${name} has ${part.length} bytes, not a whole number of ${rec}-byte page records`,
      {
        hint: 'the object is damaged; run `safetynet verify --read-data` and restore an earlier point',
        exitCode: 1,
      },
    );
  }
  for (let off = 0; off < part.length; off += rec) {
    yield { pageNo: part.readUInt32BE(off), page: part.subarray(off + PAGE_NUMBER_BYTES, off + rec) };
  }
}
