/**
 * Overflow files: where a burst goes when it does not fit in memory. The logging thread holds at
 * most `maxQueueEntries` / `maxQueueBytes` of entries not yet durable; past that it appends each
 * batch, as one record, to an overflow file in the spool folder and hands the writer only the
 * record's place (file, byte range). The writer reads the records back in order and stores them,
 * committing how far it got in the file together with the entries (the spool's replay mark), so a
 * crash never stores a record twice. An overflowed entry is durable once its file has been
 * fsync'd (done off the event loop, on libuv's thread pool); a process that dies with records not
 * yet stored leaves the file behind and the next logger on this host replays it like a spool file.
 *
 * Why files of their own instead of the spool's NDJSON: the spool is written by the writer (the
 * store is down), an overflow file by the logging thread (the store is busy), so each has one
 * writer; and a record is the hand-off batch as it is (wire.ts), which costs the logging thread
 * one string-to-UTF-8 copy instead of a JSON line per entry, and the writer a `slice` per field
 * instead of a JSON.parse per entry.
 *
 * Record layout (little-endian, as the machine writes it: files never leave the host):
 *
 *   0  "SNB1"           magic
 *   4  u32 count        rows
 *   8  u32 textBytes    UTF-8 bytes of the text
 *  12  u32 crc32        over everything after this field (zlib.crc32)
 *  16  f64[count]       timestamps
 *      i32[count * 8]   meta (wire.ts META_STRIDE)
 *      u8[textBytes]    the rows' text, UTF-8
 *      zero padding to a multiple of 8 bytes
 *
 * A record cut short (a crash while writing; never acknowledged) or failing its CRC ends the
 * readable part of the file.
 */
import {
  closeSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { META_STRIDE, decodeBatch, type WireBatch } from './wire.js';
import type { AppendRow } from './store/types.js';

const MAGIC = 0x31424e53; // "SNB1" read as a little-endian u32
const HEADER_BYTES = 16;

/** The bytes of one record holding `batch`. */
export function encodeRecord(batch: WireBatch): Buffer {
  const n = batch.count;
  const textBytes = Buffer.byteLength(batch.text);
  const numBytes = n * 8 + n * META_STRIDE * 4;
  const size = HEADER_BYTES + numBytes + textBytes;
  const padded = (size + 7) & ~7;
  const buf = Buffer.allocUnsafeSlow(padded);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(n, 4);
  buf.writeUInt32LE(textBytes, 8);
  let o = HEADER_BYTES;
  buf.set(new Uint8Array(batch.ts.buffer, batch.ts.byteOffset, n * 8), o);
  o += n * 8;
  buf.set(new Uint8Array(batch.meta.buffer, batch.meta.byteOffset, n * META_STRIDE * 4), o);
  o += n * META_STRIDE * 4;
  buf.write(batch.text, o, textBytes, 'utf8');
  buf.fill(0, size, padded);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER_BYTES, size)), 12);
  return buf;
}

export interface RecordRead {
  batches: WireBatch[];
  /** Offset just after the last whole, valid record read. */
  next: number;
  /** True when what follows `next` is not a whole valid record (end of file, torn, damaged). */
  stopped: boolean;
}

/**
 * Parses the records in `buf` (read from file offset `base`, a record boundary). Stops at the
 * end of the data, at a record cut short, or at one that fails its checks.
 */
export function parseRecords(buf: Buffer, base: number, maxRows = Infinity): RecordRead {
  const batches: WireBatch[] = [];
  let o = 0;
  let rows = 0;
  while (rows < maxRows) {
    if (buf.length - o < HEADER_BYTES) return { batches, next: base + o, stopped: true };
    if (buf.readUInt32LE(o) !== MAGIC) return { batches, next: base + o, stopped: true };
    const n = buf.readUInt32LE(o + 4);
    const textBytes = buf.readUInt32LE(o + 8);
    const size = HEADER_BYTES + n * 8 + n * META_STRIDE * 4 + textBytes;
    const padded = (size + 7) & ~7;
    if (buf.length - o < padded) return { batches, next: base + o, stopped: true };
    if (crc32(buf.subarray(o + HEADER_BYTES, o + size)) !== buf.readUInt32LE(o + 12))
      return { batches, next: base + o, stopped: true };
    let p = o + HEADER_BYTES;
    // Copies, so the arrays are aligned whatever the buffer's offset.
    const ts = new Float64Array(n);
    new Uint8Array(ts.buffer).set(buf.subarray(p, p + n * 8));
    p += n * 8;
    const meta = new Int32Array(n * META_STRIDE);
    new Uint8Array(meta.buffer).set(buf.subarray(p, p + n * META_STRIDE * 4));
    p += n * META_STRIDE * 4;
    batches.push({ count: n, ts, meta, text: buf.toString('utf8', p, p + textBytes) });
    rows += n;
    o += padded;
  }
  return { batches, next: base + o, stopped: false };
}

/** Reads `[from, to)` of an overflow file (whole records, as announced) and returns the rows. */
export function readOverflowRange(dir: string, file: string, from: number, to: number): AppendRow[] {
  const rows: AppendRow[] = [];
  for (const b of readOverflowBatches(dir, file, from, to)) decodeBatch(b, rows);
  return rows;
}

/** The batches of `[from, to)` of an overflow file (whole records, as announced). */
export function readOverflowBatches(dir: string, file: string, from: number, to: number): WireBatch[] {
  const buf = readBytes(path.join(dir, file), from, to - from);
  const r = parseRecords(buf, from);
  if (r.next !== to) throw new Error(`overflow file ${file}: bytes ${from}-${to} are not whole records`);
  return r.batches;
}

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export function readBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * One overflow file being written by the logging thread. Appends are synchronous writes into the
 * page cache (tens of microseconds for a batch); fsync runs on the thread pool.
 */
export class OverflowFile {
  /** Bytes written so far: where the next record starts. */
  size = 0;
  /** Entries written so far (an entry's index in the file is its spool id's line). */
  entries = 0;
  private fd: number | null;
  private syncing = false;
  private closeWhenSynced = false;

  private constructor(
    readonly dir: string,
    readonly name: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates the file (mode 0600) and makes its name durable. Throws when it cannot. */
  static create(dir: string, name: string): OverflowFile {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(path.join(dir, name), 'wx', 0o600);
    try {
      syncDir(dir);
    } catch {
      // some file systems cannot fsync a folder
    }
    return new OverflowFile(dir, name, fd);
  }

  /**
   * Appends one record. Returns its byte range and the index of its first entry. On failure (a
   * full disk) the file is cut back to where it was, so it stays a sequence of whole records,
   * and the error is thrown.
   */
  append(record: Buffer, count: number): { from: number; to: number; firstEntry: number } {
    if (this.fd === null) throw new Error(`overflow file ${this.name} is closed`);
    const from = this.size;
    try {
      let off = 0;
      while (off < record.length) off += writeSync(this.fd, record, off, record.length - off, from + off);
    } catch (err) {
      try {
        ftruncateSync(this.fd, from);
      } catch {
        // the reader stops at a torn record anyway
      }
      throw err;
    }
    this.size = from + record.length;
    const firstEntry = this.entries;
    this.entries += count;
    return { from, to: this.size, firstEntry };
  }

  /**
   * fsyncs on the thread pool; `done` gets the size that is now durable, or the error. One at a
   * time: returns false (and does nothing) while one is running.
   */
  sync(done: (err: Error | null, durableSize: number) => void): boolean {
    if (this.syncing || this.fd === null) return false;
    this.syncing = true;
    const size = this.size;
    fsync(this.fd, (err) => {
      this.syncing = false;
      if (this.closeWhenSynced) this.closeNow();
      done(err, size);
    });
    return true;
  }

  get syncInFlight(): boolean {
    return this.syncing;
  }

  /** fsyncs on this thread (process exit, where nothing asynchronous runs any more). */
  syncSync(): number {
    if (this.fd !== null) fsyncSync(this.fd);
    return this.size;
  }

  /** Closes the file once no fsync is running (it stays on disk for the writer). */
  close(): void {
    if (this.syncing) this.closeWhenSynced = true;
    else this.closeNow();
  }

  private closeNow(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // nothing left to do with it
    }
    this.fd = null;
  }

  /** Current size on disk (tests). */
  statSize(): number {
    return this.fd === null ? this.size : fstatSync(this.fd).size;
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
