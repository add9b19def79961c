/**
 * A consistent, read-only view of a live SQLite database's pages, taken through SQLite's own
 * locking so the shop keeps writing while we read.
 *
 * Method "locked-read" (preferred). In WAL mode a checkpoint never copies WAL frames past the
 * snapshot of any open read transaction into the database file (sqlite.org/wal.html, "Concurrency").
 * So: (1) connection A takes the write lock for a moment (BEGIN IMMEDIATE) so nothing new commits;
 * (2) connection B runs a PASSIVE checkpoint, which copies every committed frame into the file;
 * (3) connection R opens a read transaction (its snapshot = the latest commit = the file's
 * content); (4) A releases the write lock. From then on the file holds exactly R's snapshot for
 * every page up to R's page count, and stays so while R's transaction is open, however much the
 * shop writes (new commits go to the WAL and cannot be checkpointed past R). We read the pages with
 * plain file reads at disk speed, then end R. Writers wait only for step (2), which copies at most
 * the WAL's pending frames (the auto-checkpoint keeps that small). If an older reader blocks the
 * checkpoint from finishing, we retry and finally fall back.
 * In rollback-journal mode, R's SHARED lock alone keeps writers from changing the file.
 *
 * Method "backup-api" (fallback): better-sqlite3's backup() copying all pages in one step into a
 * private staging file (one step holds one read transaction; a stepwise backup restarts on every
 * write from another connection and may never finish on a busy shop). Slower: it writes a full copy.
 *
 * POSIX advisory locks belong to the process, and closing ANY descriptor of a file drops them all;
 * so the raw descriptor is closed only after every SQLite connection this module opened on the
 * file is closed. Do not run a backup inside a process that keeps its own connections to the shop
 * database (the CLI and `safetynet serve` are separate processes).
 */
import Database from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SafetynetError } from '../../../errors.js';

export type SnapshotMethod = 'locked-read' | 'backup-api';

/** How long one attempt may hold the shop's write lock while waiting for the checkpoint (ms). */
const CHECKPOINT_PATIENCE_MS = 250;

export interface SnapshotOptions {
  /** Folder for the fallback's staging copy. */
  stagingDir: string;
  /** How long to keep retrying the locked read before falling back (ms). */
  lockedReadTimeoutMs?: number;
  /** Force a method (tests, benchmarks). */
  method?: SnapshotMethod;
  /**
   * Touch the file only through SQLite connections (no raw descriptor, so "backup-api"): for a file
   * this process also writes through SQLite (the log store), whose POSIX locks a raw close() would drop.
   */
  sqliteOnly?: boolean;
  /** Busy timeout for taking locks (ms). */
  busyTimeoutMs?: number;
}

/** An open snapshot; read its pages, then close() it promptly to let checkpoints proceed. */
export interface SqliteSnapshot {
  readonly method: SnapshotMethod;
  readonly pageSize: number;
  readonly pageCount: number;
  readonly journalMode: string;
  /**
   * Rows per user table, counted inside the snapshot. Call it after reading the pages: counting
   * reads each table's b-tree in tree order, 4 KB at a time, which on a database not in the page
   * cache took 3.9 s of a 1 GiB shop database's full backup (74 ms once the pages were streamed).
   */
  countTables(): Record<string, number>;
  /** Reads `length` bytes at `offset` of the snapshot's file image into `into`. */
  read(into: Buffer, offset: number, length: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens a consistent snapshot of the SQLite database at `dbPath`. */
export async function openSnapshot(dbPath: string, opts: SnapshotOptions): Promise<SqliteSnapshot> {
  if (opts.sqliteOnly) return backupApiSnapshot(dbPath, opts);
  await assertSqliteFile(dbPath);
  if (opts.method !== 'backup-api') {
    const deadline = Date.now() + (opts.lockedReadTimeoutMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      const snap = await tryLockedRead(dbPath, opts.busyTimeoutMs ?? 5_000);
      if (snap) return snap;
      if (opts.method === 'locked-read' && Date.now() > deadline) {
        throw new SafetynetError(
          'E_SNAPSHOT_BUSY',
          `could not take a consistent snapshot of ${dbPath}: a long-running reader keeps the WAL from being checkpointed`,
          {
            hint: 'retry later, or end the long-running read transaction in the shop',
          },
        );
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
  return backupApiSnapshot(dbPath, opts);
}

/** Refuses files that are not SQLite databases, with a clear message. */
export async function assertSqliteFile(dbPath: string): Promise<void> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(dbPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SafetynetError(
      'E_DB_MISSING',
      code === 'ENOENT'
        ? `the shop database ${dbPath} does not exist`
        : `the shop database ${dbPath} cannot be opened (${code})`,
      { hint: 'check database.path in the config', exitCode: 2, cause: err },
    );
  }
  try {
    const header = Buffer.alloc(16);
    const { bytesRead } = await fh.read(header, 0, 16, 0);
    if (bytesRead === 0) return; // an empty file is a valid, empty database
    if (bytesRead < 16 || header.toString('latin1') !== 'SQLite format 3\u0000') {
      throw new SafetynetError(
        'E_DB_NOT_SQLITE',
        `${dbPath} is not a SQLite database (its header is wrong)`,
        {
          hint: 'database.path must name the shop\'s SQLite database file; for PostgreSQL set database.type to "postgres"',
          exitCode: 2,
        },
      );
    }
  } finally {
    await fh.close();
  }
}

async function tryLockedRead(dbPath: string, busyTimeoutMs: number): Promise<SqliteSnapshot | undefined> {
  // Open the raw descriptor first: it must outlive every connection below (see the note above).
  const fh = await fsp.open(dbPath, 'r');
  const conns: Database.Database[] = [];
  const closeAll = () => {
    for (const c of conns.splice(0)) {
      try {
        if (c.inTransaction) c.exec('ROLLBACK');
      } catch {
        // ignore: closing anyway
      }
      c.close();
    }
  };
  try {
    const open = () => {
      const c = new Database(dbPath, { fileMustExist: true, timeout: busyTimeoutMs });
      conns.push(c);
      return c;
    };
    const reader = open();
    const journalMode = String(reader.pragma('journal_mode', { simple: true }));
    if (journalMode === 'wal') {
      const writer = open();
      const checkpointer = open();
      // Drain most pending frames without holding anyone up, then again under the write lock.
      checkpointer.pragma('wal_checkpoint(PASSIVE)');
      writer.exec('BEGIN IMMEDIATE');
      let done = false;
      try {
        // PASSIVE never waits: it answers busy while another connection (say the shop's own
        // auto-checkpoint) runs one. With the write lock held nothing new can commit, so that one
        // ends soon; retry briefly (writers wait meanwhile, so keep it short).
        const until = performance.now() + CHECKPOINT_PATIENCE_MS;
        for (;;) {
          const r = checkpointer.pragma('wal_checkpoint(PASSIVE)') as {
            busy: number;
            log: number;
            checkpointed: number;
          }[];
          done = r[0] !== undefined && r[0].busy === 0 && r[0].log === r[0].checkpointed;
          if (done || performance.now() > until) break;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        if (done) {
          reader.exec('BEGIN');
          reader.prepare('SELECT count(*) FROM sqlite_master').get();
        }
      } finally {
        writer.exec('COMMIT');
      }
      writer.close();
      checkpointer.close();
      conns.splice(conns.indexOf(writer), 1);
      conns.splice(conns.indexOf(checkpointer), 1);
      if (!done) {
        closeAll();
        await fh.close();
        return undefined;
      }
    } else {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM sqlite_master').get();
    }
    const pageSize = Number(reader.pragma('page_size', { simple: true }));
    const pageCount = Number(reader.pragma('page_count', { simple: true }));
    let tables: Record<string, number> | undefined;
    return snapshotOf(
      fh,
      dbPath,
      // The reader keeps its transaction (and the lock) until close(): counted later, same snapshot.
      {
        method: 'locked-read',
        pageSize,
        pageCount,
        journalMode,
        countTables: () => {
          try {
            return (tables ??= countRows(reader));
          } catch (err) {
            throw wrapSqliteError(err, dbPath);
          }
        },
      },
      async () => {
        closeAll();
        await fh.close();
      },
    );
  } catch (err) {
    closeAll();
    await fh.close();
    throw wrapSqliteError(err, dbPath);
  }
}

async function backupApiSnapshot(dbPath: string, opts: SnapshotOptions): Promise<SqliteSnapshot> {
  await fsp.mkdir(opts.stagingDir, { recursive: true });
  const staging = path.join(opts.stagingDir, `.snapshot-${randomBytes(6).toString('hex')}.sqlite`);
  const cleanup = () =>
    Promise.all(['', '-wal', '-shm', '-journal'].map((s) => fsp.rm(staging + s, { force: true })));
  let journalMode: string;
  try {
    const src = new Database(dbPath, {
      fileMustExist: true,
      readonly: true,
      timeout: opts.busyTimeoutMs ?? 5_000,
    });
    try {
      journalMode = String(src.pragma('journal_mode', { simple: true }));
      // All pages in one step: one read transaction, never restarted by concurrent writers.
      await src.backup(staging, { progress: () => 0x7fffffff });
    } finally {
      src.close();
    }
    const copy = new Database(staging, { readonly: true });
    const pageSize = Number(copy.pragma('page_size', { simple: true }));
    const pageCount = Number(copy.pragma('page_count', { simple: true }));
    const tables = countRows(copy);
    copy.close();
    const fh = await fsp.open(staging, 'r');
    return snapshotOf(
      fh,
      staging,
      // (counted at once: the copy was just written, so its pages are in the page cache)
      { method: 'backup-api', pageSize, pageCount, journalMode, countTables: () => tables },
      async () => {
        await fh.close();
        await cleanup();
      },
    );
  } catch (err) {
    await cleanup();
    throw wrapSqliteError(err, dbPath);
  }
}

/** A snapshot whose pages are read from `fh`; `release` runs once, on the first close(). */
function snapshotOf(
  fh: fsp.FileHandle,
  file: string,
  info: Omit<SqliteSnapshot, 'read' | 'close'>,
  release: () => Promise<void>,
): SqliteSnapshot {
  let closed = false;
  return {
    ...info,
    async read(into, offset, length) {
      await readFully(fh, into, offset, length, file);
    },
    async close() {
      if (closed) return;
      closed = true;
      await release();
    },
  };
}

/** Row counts of every user table (the restore test compares them). */
export function countRows(db: Database.Database): Record<string, number> {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  const out: Record<string, number> = {};
  for (const name of names) {
    try {
      out[name] = Number(
        db
          .prepare(`SELECT count(*) FROM "${name.replace(/"/g, '""')}"`)
          .pluck()
          .get(),
      );
    } catch {
      // virtual tables whose module is not loaded here (e.g. a custom FTS tokenizer) cannot be counted
    }
  }
  return out;
}

async function readFully(
  fh: fsp.FileHandle,
  into: Buffer,
  offset: number,
  length: number,
  file: string,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(into, done, length - done, offset + done);
    if (bytesRead === 0) {
      throw new SafetynetError(
        'E_SNAPSHOT_SHORT',
        `${file} ended at byte ${offset + done}, before its page count says`,
        {
          hint: 'the database file was truncated or replaced during the backup; run the backup again',
        },
      );
    }
    done += bytesRead;
  }
}

function wrapSqliteError(err: unknown, dbPath: string): unknown {
  if (err instanceof SafetynetError) return err;
  const e = err as { code?: string; message?: string };
  if (e.code === 'SQLITE_NOTADB') {
    return new SafetynetError('E_DB_NOT_SQLITE', `${dbPath} is not a SQLite database`, {
      hint: "database.path must name the shop's SQLite database file",
      exitCode: 2,
      cause: err,
    });
  }
  if (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED') {
    return new SafetynetError('E_DB_BUSY', `the shop database ${dbPath} stayed locked: ${e.message}`, {
      hint: 'a long write transaction held the lock; the backup will succeed at its next run',
      cause: err,
    });
  }
  return err;
}
