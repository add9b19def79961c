/**
 * The checks a restored database must pass before it replaces anything, at one of three levels:
 *   full  — PRAGMA integrity_check (every page, every index entry against its row), row counts;
 *   quick — the header agrees with the manifest (page size, page count), the schema parses, and
 *           every table's b-tree is walked to count its rows, which must equal the manifest's
 *           (a restore written in one pass walks the pages it scanned on their way to disk,
 *           checkScannedDatabase, and also counts every full index against its table);
 *   none  — nothing beyond the SHA-256 of every byte (always checked, at every level).
 * foreign_key_check is added on request. The restore test always runs `full`.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { countRows } from './snapshot.js';
import type { PageScan } from './btree-scan.js';
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
    return refusal(err);
  } finally {
    db.close();
  }
}

/**
 * SQLITE_CORRUPT and friends: the file is not a sound database. An I/O or full-disk error says
 * nothing about the backup (a full target disk makes SQLite fail its temp files and reads).
 */
function refusal(err: unknown): DatabaseCheck {
  const code = String((err as { code?: unknown }).code ?? '');
  const ioError = code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL' || code === 'SQLITE_CANTOPEN';
  return {
    integrity: `SQLite refused the file: ${(err as Error).message}`,
    tables: {},
    ...(ioError ? { ioError: true } : {}),
  };
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
  return headerBytesProblems(h, expected);
}

function headerBytesProblems(h: Buffer, expected: ExpectedShape): string[] {
  if (h.length < 100) return ['the file is shorter than a SQLite header'];
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

export interface ScannedCheckRequest {
  file: string;
  /** The pages as they were written (btree-scan.ts). */
  scan: PageScan;
  /** The first 100 bytes as written. */
  header: Buffer | undefined;
  foreignKeyCheck: boolean;
  expected: ExpectedShape;
}

/**
 * The quick check from pages scanned while they were written: the header against the manifest;
 * the schema, read through SQLite (which parses every CREATE statement) for the root pages; every
 * table's and index's b-tree walked in the scan (btree-scan.ts) and counted; every table's rows
 * against the manifest; and every full (not partial) index's entries against its table's rows,
 * which `count(*)` alone would not notice. Reads only the schema's pages from the file. Virtual
 * tables, which have no b-tree of their own, are counted through SQLite as before.
 */
export function checkScannedDatabase(req: ScannedCheckRequest): DatabaseCheck {
  const problems = req.header ? headerBytesProblems(req.header, req.expected) : ['page 1 was never written'];
  if (problems.length) return { integrity: problems.join('; '), tables: {} };
  let db: Database.Database | undefined;
  try {
    db = new Database(req.file, { fileMustExist: true, readonly: true });
    const schema = db.prepare('SELECT type, name, tbl_name AS tbl, rootpage FROM sqlite_schema').all() as {
      type: string;
      name: string;
      tbl: string;
      rootpage: number | null;
    }[];
    const trees = [{ name: 'sqlite_schema', root: 1 }];
    for (const r of schema) if (r.rootpage) trees.push({ name: r.name, root: r.rootpage });
    const walked = req.scan.walk(trees);
    problems.push(...walked.problems);
    const tables: Record<string, number> = {};
    for (const r of schema) {
      if (r.type !== 'table' || /^sqlite./i.test(r.name)) continue;
      if (r.rootpage) tables[r.name] = walked.counts.get(r.name)!;
      else {
        // A virtual table: counted through its module, as countRows did at backup time.
        const n = countVirtual(db, r.name);
        if (n !== undefined) tables[r.name] = n;
      }
    }
    for (const t of new Set([...Object.keys(req.expected.tables), ...Object.keys(tables)])) {
      if (req.expected.tables[t] !== tables[t])
        problems.push(
          `${t}: ${tables[t] ?? 'missing'} rows, manifest says ${req.expected.tables[t] ?? 'absent'}`,
        );
    }
    problems.push(...indexCountProblems(db, schema, walked.counts));
    const out: DatabaseCheck = { integrity: problems.length ? problems.join('; ') : 'ok', tables };
    if (req.foreignKeyCheck) out.foreignKeyViolations = (db.pragma('foreign_key_check') as unknown[]).length;
    return out;
  } catch (err) {
    return refusal(err);
  } finally {
    db?.close();
  }
}

/** A full index holds one entry per row of its table; a partial one (WHERE) is skipped. */
function indexCountProblems(
  db: Database.Database,
  schema: { type: string; name: string; tbl: string; rootpage: number | null }[],
  counts: Map<string, number>,
): string[] {
  const problems: string[] = [];
  const withIndexes = new Set(schema.filter((r) => r.type === 'index' && r.rootpage).map((r) => r.tbl));
  for (const tbl of withIndexes) {
    const rows = counts.get(tbl);
    if (rows === undefined) continue;
    const list = db.pragma(`index_list("${tbl.replace(/"/g, '""')}")`) as { name: string; partial: number }[];
    for (const ix of list) {
      const entries = counts.get(ix.name);
      if (ix.partial || entries === undefined || entries === rows) continue;
      problems.push(`index ${ix.name}: ${entries} entries for the ${rows} rows of ${tbl}`);
    }
  }
  return problems;
}

function countVirtual(db: Database.Database, name: string): number | undefined {
  try {
    return Number(
      db
        .prepare(`SELECT count(*) FROM "${name.replace(/"/g, '""')}"`)
        .pluck()
        .get(),
    );
  } catch {
    return undefined; // a module not loaded here cannot be counted (as countRows)
  }
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
