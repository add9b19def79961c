/**
 * The spool: where entries wait, durably, while the log store cannot be written (file unwritable,
 * disk full, database locked too long). Each process appends to its own NDJSON file under
 * `logs.spool` and fsyncs it before the entries count as stored; once the store works again the
 * files are replayed in order, keeping each entry's original timestamp.
 *
 * File names sort by creation time: `spool-<ms>-<host>-<pid>-<process token>-<rand>.ndjson`. A process replays its
 * own file and the files of processes on this host that no longer run. How far a file has been
 * replayed is committed in the store together with the replayed entries, so a crash during replay
 * never stores an entry twice.
 *
 * The same folder holds overflow files (`….batches`, see overflow.ts): a burst the logging thread
 * could not hold in memory. They are named and replayed the same way (a process that died with
 * one leaves it to the next logger on the host); only their records differ from NDJSON lines.
 */
import { rowProblem } from './entry-check.js';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
  fstatSync,
  ftruncateSync,
  renameSync,
} from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isLevel } from './types.js';
import type { AppendRow } from './store/types.js';
import { decodeBatch } from './wire.js';
import { parseRecords, readBytes } from './overflow.js';

const NAME_RE = /^spool-(\d{15})-(.+)-(\d+)-([0-9a-f]{8})-([0-9a-f]{8})\.(ndjson|batches)$/;
/** Extension of overflow files (records of batches, overflow.ts); spool files are `.ndjson`. */
export const OVERFLOW_EXT = '.batches';

const TOKEN_KEY = Symbol.for('safetynet.processToken');

/**
 * A random token fixed for the life of this process (shared through globalThis by every copy of
 * this module on the main thread; worker threads receive it from the main thread). It tells a
 * spool file of a logger still running in this process from one left by an earlier process that
 * had the same pid (containers restart apps as pid 1).
 */
export function processToken(): string {
  const g = globalThis as unknown as Record<symbol, string | undefined>;
  let t = g[TOKEN_KEY];
  while (t === undefined || t === ORPHAN_TOKEN) t = randomBytes(4).toString('hex');
  return (g[TOKEN_KEY] = t);
}

/** Token of files nobody is writing to (see writeComplete): any logger on this host may replay them. */
const ORPHAN_TOKEN = 'ffffffff';
/** Bytes read per replay step (whole lines only). */
const READ_CHUNK = 4 * 1024 * 1024;

export interface SpoolRead {
  rows: AppendRow[];
  /** Byte offset after the last complete line read. */
  next: number;
  /** Lines that were not valid entries (skipped). */
  bad: number;
  /** True when nothing complete is left after `next`. */
  atEnd: boolean;
}

export class Spool {
  readonly dir: string;
  private readonly host: string;
  private readonly pid: number;
  private fd: number | null = null;
  private ownName: string | null = null;
  private lines = 0;

  private readonly token: string;

  constructor(dir: string, options: { host?: string; pid?: number; token?: string } = {}) {
    this.dir = dir;
    this.host = (options.host ?? hostname()).replace(/[^A-Za-z0-9.]/g, '_') || 'host';
    this.pid = options.pid ?? process.pid;
    this.token = options.token ?? processToken();
  }

  /** Name of this process's spool file, when it has one. */
  get ownFile(): string | null {
    return this.ownName;
  }

  /**
   * A new file name of this process, sorting after every earlier one: `.ndjson` for the spool,
   * OVERFLOW_EXT for an overflow file.
   */
  newName(ext: '.ndjson' | typeof OVERFLOW_EXT, token = this.token): string {
    const stamp = String(Date.now()).padStart(15, '0');
    return `spool-${stamp}-${this.host}-${this.pid}-${token}-${randomBytes(4).toString('hex')}${ext}`;
  }

  /** A new name for writeComplete (decided ahead when the store must know it, see BatchMark). */
  completeName(): string {
    return this.newName('.ndjson', ORPHAN_TOKEN);
  }

  /**
   * Appends rows as NDJSON and fsyncs. Returns the file and the line number of the first row.
   * Throws when the spool cannot be written either (the caller keeps the rows and retries).
   */
  append(rows: AppendRow[]): { file: string; firstLine: number } {
    if (this.fd === null) {
      mkdirSync(this.dir, { recursive: true });
      const name = this.newName('.ndjson');
      this.fd = openSync(path.join(this.dir, name), 'a', 0o600);
      this.ownName = name;
      this.lines = 0;
      syncDir(this.dir);
    }
    let text = '';
    for (const r of rows) text += JSON.stringify(r) + '\n';
    const buf = Buffer.from(text);
    let off = 0;
    const start = fstatSync(this.fd).size;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
      fsyncSync(this.fd);
    } catch (err) {
      // A partial line would corrupt the next append: cut the file back to where it was.
      try {
        closeSync(this.fd);
      } catch {
        // already broken
      }
      this.fd = null;
      truncateTo(path.join(this.dir, this.ownName!), start);
      throw err;
    }
    const firstLine = this.lines;
    this.lines += rows.length;
    return { file: this.ownName!, firstLine };
  }

  /**
   * Writes `rows` as a complete, immutable spool file (temp name, fsync, rename), for entries that
   * arrive when no writer runs any more (logged after close), or a batch whose append may have
   * committed (`name` is then its BatchMark's file). Any logger may replay it at once.
   */
  writeComplete(rows: AppendRow[], name = this.completeName()): { file: string; firstLine: number } {
    mkdirSync(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.${name}.tmp`);
    let text = '';
    for (const r of rows) text += JSON.stringify(r) + '\n';
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      const buf = Buffer.from(text);
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path.join(this.dir, name));
    syncDir(this.dir);
    return { file: name, firstLine: 0 };
  }

  /**
   * Spool files this logger may replay now, oldest first: its own, and on this host those of
   * processes that no longer run (other loggers of this process replay their own files).
   */
  replayable(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => {
        const m = NAME_RE.exec(n);
        if (!m) return false;
        if (n === this.ownName) return true;
        if (m[2] !== this.host) return false;
        if (m[4] === ORPHAN_TOKEN) return true;
        const pid = Number(m[3]);
        return pid === this.pid ? m[4] !== this.token : !processAlive(pid);
      })
      .sort();
  }

  /** Reads complete lines (or overflow records) from `offset`, about `maxRows` entries. */
  read(file: string, offset: number, maxRows: number): SpoolRead {
    if (file.endsWith(OVERFLOW_EXT)) return this.readOverflow(file, offset, maxRows);
    const full = path.join(this.dir, file);
    let fd: number;
    try {
      fd = openSync(full, 'r');
    } catch {
      return { rows: [], next: offset, bad: 0, atEnd: true };
    }
    try {
      const size = fstatSync(fd).size;
      let chunk = READ_CHUNK;
      let buf: Buffer;
      let got: number;
      for (;;) {
        const len = Math.min(chunk, Math.max(0, size - offset));
        buf = Buffer.alloc(len);
        got = 0;
        while (got < len) {
          const n = readSync(fd, buf, got, len - got, offset + got);
          if (n === 0) break;
          got += n;
        }
        // One line longer than the chunk (huge details): read more at once.
        if (got < size - offset && buf.indexOf(10) < 0) chunk *= 2;
        else break;
      }
      const rows: AppendRow[] = [];
      let bad = 0;
      let pos = 0;
      while (rows.length < maxRows) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0 || nl >= got) break;
        const line = buf.toString('utf8', pos, nl);
        pos = nl + 1;
        const row = parseRow(line);
        if (row) rows.push(row);
        else if (line.trim()) bad++;
      }
      const next = offset + pos;
      // What remains is either more lines (next call) or a torn last line never acknowledged.
      const rest = buf.subarray(pos, got);
      const atEnd = next >= size || (got === size - offset && rest.indexOf(10) < 0);
      return { rows, next, bad, atEnd };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Reads whole records of an overflow file left by a process that ended (at least one record,
   * then up to about `maxRows` entries). A record cut short or damaged ends the file: it was
   * being written when the process died and was never acknowledged.
   */
  private readOverflow(file: string, offset: number, maxRows: number): SpoolRead {
    const full = path.join(this.dir, file);
    let size: number;
    try {
      size = statSync(full).size;
    } catch {
      return { rows: [], next: offset, bad: 0, atEnd: true };
    }
    let chunk = READ_CHUNK;
    for (;;) {
      const buf = readBytes(full, offset, Math.min(chunk, Math.max(0, size - offset)));
      const r = parseRecords(buf, offset, maxRows);
      // One record larger than the chunk (huge details): read more at once.
      if (r.batches.length === 0 && r.stopped && buf.length < size - offset) {
        chunk *= 2;
        continue;
      }
      const rows: AppendRow[] = [];
      let bad = 0;
      for (const b of r.batches) {
        for (const row of decodeBatch(b)) {
          if (rowProblem(row) === undefined) rows.push(row);
          else bad++;
        }
      }
      // What remains after a stop within the data is a torn or damaged record: skipped.
      const atEnd = r.next >= size || (r.stopped && buf.length === size - offset);
      return { rows, next: r.next, bad, atEnd };
    }
  }

  /** Deletes a fully replayed file (closing it first when it is this process's own). */
  remove(file: string): void {
    if (file === this.ownName && this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
      this.ownName = null;
    }
    try {
      unlinkSync(path.join(this.dir, file));
      syncDir(this.dir);
    } catch {
      // already gone (another process replayed it)
    }
  }

  /** Closes this process's file (it stays for a later replay). */
  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /**
   * Bytes of entries waiting in this spool folder, for status displays: every spool file, and
   * the overflow files a process left behind. The overflow file of a logger still running on this
   * host is a burst on its way to the store, not entries the store could not take.
   */
  static pendingBytes(dir: string): number {
    const host = hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';
    try {
      return readdirSync(dir)
        .filter((n) => {
          const m = NAME_RE.exec(n);
          if (!m) return false;
          return m[6] !== OVERFLOW_EXT.slice(1) || m[2] !== host || !processAlive(Number(m[3]));
        })
        .reduce((sum, n) => sum + statSync(path.join(dir, n)).size, 0);
    } catch {
      return 0;
    }
  }
}

function parseRow(line: string): AppendRow | undefined {
  try {
    const r = JSON.parse(line) as Partial<AppendRow>;
    if (
      typeof r.ts !== 'number' ||
      !isLevel(r.level) ||
      typeof r.category !== 'string' ||
      typeof r.message !== 'string' ||
      typeof r.details !== 'string'
    ) {
      return undefined;
    }
    const row: AppendRow = {
      ts: r.ts,
      level: r.level,
      category: r.category,
      message: r.message,
      details: r.details,
      orderId: typeof r.orderId === 'string' ? r.orderId : null,
      errorStack: typeof r.errorStack === 'string' ? r.errorStack : null,
    };
    if (r.webhook && typeof r.webhook.provider === 'string' && typeof r.webhook.eventId === 'string') {
      row.webhook = { provider: r.webhook.provider, eventId: r.webhook.eventId };
    }
    // A line the store would refuse is skipped (counted as unreadable), never replayed for ever.
    return rowProblem(row) === undefined ? row : undefined;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems cannot fsync a folder
  }
}

function truncateTo(file: string, size: number): void {
  try {
    const fd = openSync(file, 'r+');
    try {
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the next read skips a torn line anyway
  }
}
