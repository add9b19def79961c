/**
 * The checks a restored database must pass before it replaces anything, at one of three levels:
 *   full  — PRAGMA integrity_check (every page, every index entry against its row), row counts;
 *   quick — the header agrees with the manifest (page size, page count), the schema parses, and
 *           every table's b-tree is walked to count its rows, which must equal the manifest's;
 *   none  — nothing beyond the SHA-256 of every byte (always checked, at every level).
 * foreign_key_check is added on request. The restore test always runs `full`.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { countRows } from './snapshot.js';
import { workerUrl } from '../../../util/worker-url.js';

/** How much structure a restore checks beyond the SHA-256 (see the module comment). */
export type CheckLevel = 'full' | 'quick' | 'none';
export const CHECK_LEVELS: readonly CheckLevel[] = ['full', 'quick', 'none'];

export interface DatabaseCheck {
  /** "ok", or the list of problems found (SQLite's for `full`, ours for `quick`). */
  integrity: string;
  foreignKeyViolations?: number;
  tables: Record<string, number>;
  /** The file could not be read back (SQLITE_IOERR, SQLITE_FULL): the disk's fault, not the backup's. */
  ioError?: boolean;
}

/** What the manifest says the restored file must look like (for `quick`). */
export interface ExpectedShape {
  pageSize: number;
  pageCount: number;
  tables: Record<string, number>;
}

export interface CheckRequest {
  file: string;
  level: 'full' | 'quick';
  foreignKeyCheck: boolean;
  expected: ExpectedShape;
  /** quick: count only these tables (the check is split over threads); default all. */
  only?: string[];
}

/** Runs the checks on this thread. */
export function checkDatabase(req: CheckRequest): DatabaseCheck {
  const problems = req.level === 'quick' ? headerProblems(req.file, req.expected) : [];
  if (problems.length) return { integrity: problems.join('; '), tables: {} };
  const db = new Database(req.file, { fileMustExist: true, readonly: true });
  try {
    let integrity: string;
    let tables: Record<string, number> = {};
    if (req.level === 'full') {
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      integrity = rows.map((r) => r.integrity_check).join('; ');
      if (integrity === 'ok') tables = countRows(db);
    } else {
      // Reading sqlite_schema parses every CREATE statement; count(*) NOT INDEXED walks every
      // page of each table's own b-tree (not a smaller index), so a damaged one fails here.
      tables = countTableTrees(db, req.only);
      const names = req.only ?? Object.keys({ ...req.expected.tables, ...tables });
      const diffs = names
        .filter((t) => req.expected.tables[t] !== tables[t])
        .map(
          (t) => `${t}: ${tables[t] ?? 'missing'} rows, manifest says ${req.expected.tables[t] ?? 'absent'}`,
        );
      integrity = diffs.length ? diffs.join('; ') : 'ok';
    }
    const out: DatabaseCheck = { integrity, tables };
    if (req.foreignKeyCheck) out.foreignKeyViolations = (db.pragma('foreign_key_check') as unknown[]).length;
    return out;
  } catch (err) {
    // SQLITE_CORRUPT and friends: the file is not a sound database. An I/O or full-disk error says
    // nothing about the backup (a full target disk makes SQLite fail its temp files and reads).
    const code = String((err as { code?: unknown }).code ?? '');
    const ioError = code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL' || code === 'SQLITE_CANTOPEN';
    return {
      integrity: `SQLite refused the file: ${(err as Error).message}`,
      tables: {},
      ...(ioError ? { ioError: true } : {}),
    };
  } finally {
    db.close();
  }
}

/** Row counts read from each table's own b-tree; virtual tables are counted as countRows does. */
function countTableTrees(db: Database.Database, only?: string[]): Record<string, number> {
  const names =
    only ??
    (db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[]);
  const out: Record<string, number> = {};
  for (const name of names) {
    const q = `"${name.replace(/"/g, '""')}"`;
    const count = (sql: string) => Number(db.prepare(sql).pluck().get());
    try {
      out[name] = count(`SELECT count(*) FROM ${q} NOT INDEXED`);
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CORRUPT')) throw err;
      try {
        out[name] = count(`SELECT count(*) FROM ${q}`); // a virtual table has no b-tree of its own
      } catch {
        // a virtual table whose module is not loaded here cannot be counted (as countRows)
      }
    }
  }
  return out;
}

/** The 100-byte SQLite header against the manifest: magic, page size, in-header page count. */
function headerProblems(file: string, expected: ExpectedShape): string[] {
  const h = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, h, 0, 100, 0) !== 100) return ['the file is shorter than a SQLite header'];
  } finally {
    closeSync(fd);
  }
  if (h.toString('latin1', 0, 16) !== 'SQLite format 3\0') return ['the file has no SQLite header'];
  const problems: string[] = [];
  const raw = h.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize !== expected.pageSize)
    problems.push(`page size ${pageSize}, manifest says ${expected.pageSize}`);
  // The in-header size is valid only when "version-valid-for" equals the change counter.
  if (h.readUInt32BE(92) === h.readUInt32BE(24) && h.readUInt32BE(28) !== expected.pageCount)
    problems.push(`the header says ${h.readUInt32BE(28)} pages, manifest says ${expected.pageCount}`);
  return problems;
}

/**
 * Runs the checks off the main thread (which is fsyncing meanwhile). quick is split over two
 * threads (tables dealt out by their expected row counts), so both cores walk b-trees.
 */
export async function checkDatabaseInWorkers(req: CheckRequest): Promise<DatabaseCheck> {
  const names = Object.keys(req.expected.tables).sort(
    (a, b) => req.expected.tables[b]! - req.expected.tables[a]!,
  );
  if (req.level === 'full' || names.length < 2) return checkDatabaseInWorker(req);
  const halves: string[][] = [[], []];
  const load = [0, 0];
  for (const n of names) {
    const i = load[0]! <= load[1]! ? 0 : 1;
    halves[i]!.push(n);
    load[i]! += req.expected.tables[n]!;
  }
  const [a, b] = await Promise.all(
    halves.map((only, i) =>
      checkDatabaseInWorker({ ...req, only, foreignKeyCheck: i === 0 && req.foreignKeyCheck }),
    ),
  );
  // Tables the manifest does not know would be missed by the split: list them on this thread.
  const db = new Database(req.file, { fileMustExist: true, readonly: true });
  let extra: string[];
  try {
    extra = (
      db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .pluck()
        .all() as string[]
    ).filter((n) => !(n in req.expected.tables));
  } finally {
    db.close();
  }
  const problems = [a!, b!].map((r) => r.integrity).filter((p) => p !== 'ok');
  if (extra.length) problems.push(`tables not in the manifest: ${extra.join(', ')}`);
  return {
    integrity: problems.length ? problems.join('; ') : 'ok',
    tables: { ...a!.tables, ...b!.tables },
    ...(a!.foreignKeyViolations !== undefined ? { foreignKeyViolations: a!.foreignKeyViolations } : {}),
  };
}

/** Runs the checks in one worker thread. */
export function checkDatabaseInWorker(req: CheckRequest): Promise<DatabaseCheck> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl(import.meta.url, 'check-worker'), { workerData: req });
    worker.once(
      'message',
      (m: { ok: true; result: DatabaseCheck } | { ok: false; message: string; code?: string }) => {
        if (m.ok) resolve(m.result);
        else reject(Object.assign(new Error(m.message), { code: m.code }));
      },
    );
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the database check worker exited with code ${code}`));
    });
  });
}
