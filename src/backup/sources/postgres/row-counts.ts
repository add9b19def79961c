/**
 * Row counts of the shop's tables at a WAL position, recorded with each base backup: the restore
 * test recovers a copy to exactly that position and compares its counts with these.
 *
 * A snapshot and a WAL position do not match by themselves: a transaction whose commit record is
 * already in the WAL becomes visible to snapshots a moment later (after its flush), so a snapshot
 * taken beside a busy writer can miss a commit that recovery to "the current position" replays
 * (the restore test then failed with "orders: 5039 rows, manifest says 5038", about once in a
 * dozen runs of the test that backs up under writes). So the snapshot is taken while a SHARE lock
 * on the counted tables is held: it waits for the transactions writing them to end (a writer
 * releases its lock only after it became visible) and keeps new writes out for the moment it
 * takes to export the snapshot and read the WAL position; then the lock is released and the
 * counting runs in that exported snapshot, writers going on. The wait is bounded (LOCK_WAIT_MS,
 * a few tries); a role that may not take the lock (SHARE mode needs UPDATE, DELETE or TRUNCATE on
 * the tables; `pg_read_all_data` is not enough), or tables whose writers never pause, get the
 * plain snapshot, which races only with commits in that instant, and the manifest says so
 * (`countsExact: false`).
 */
import type pg from 'pg';
import type { BackupDeps } from '../../context.js';
import type { PostgresSourceConfig } from '../../../config/types.js';
import { connect, quoteTable, withClient } from './conn.js';
import { pgConfig } from './walstream.js';

/** How long one try waits for the tables' writers to finish before giving up the lock. */
const LOCK_WAIT_MS = 100;
const LOCK_TRIES = 3;

/** Row counts of the shop's tables in one snapshot, and where that snapshot sits in the WAL. */
export interface RowCounts {
  /** The WAL position the snapshot matches: the restore test recovers to it and compares. */
  lsn: string;
  /** The snapshot was taken under the tables' lock (exact); false: the plain snapshot. */
  exact: boolean;
  /** A WAL position written after `lsn` (so a one-shot catch-up has a record to stop at). */
  walAfter: string;
  /** The counts, still being read when openCounts resolves. */
  tables: Promise<Record<string, number>>;
}

/**
 * Takes a snapshot matching a WAL position (see above), writes a WAL record after it (a
 * transaction id taken on a second connection: recovery to an LSN must read the record that
 * follows it, and an idle server may write none for minutes), and counts the tables in that
 * snapshot while the caller waits for WAL: at 1.1M orders the counting is ~0.13 s of the backup,
 * no longer added to the WAL wait.
 */
export async function openCounts(deps: BackupDeps): Promise<RowCounts> {
  const pgc = pgConfig(deps);
  const c = await connect(pgc);
  let lsn: string;
  let names: string[];
  let exact = true;
  try {
    names = await tableNames(c, pgc.tables, pgc.heartbeatTable);
    const locked = await lockedSnapshot(pgc, c, names);
    if (locked === undefined) exact = false;
    lsn = locked ?? (await plainSnapshot(c));
  } catch (err) {
    await c.end().catch(() => {});
    throw err;
  }
  const tables = countInSnapshot(c, names).finally(() => c.end().catch(() => {}));
  tables.catch(() => {}); // the caller awaits it; not unhandled while the WAL marker is written
  const walAfter = await withClient(pgc, async (m) => {
    // A role that may not take an id (a standby, read-only settings) leaves the catch-up to wait
    // for the server's next record, as it would without this.
    await m.query('SELECT pg_current_xact_id()').catch(() => {});
    return (await m.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text l')).rows[0]!.l;
  });
  return { lsn, exact, walAfter, tables };
}

/**
 * Opens a REPEATABLE READ transaction on `c` in a snapshot taken under a SHARE lock on `tables`
 * (held by another connection, released once `c` has the snapshot) and returns the WAL insert
 * position read under the same lock. Undefined when the lock could not be had (not allowed, or
 * writers did not pause within the tries); `c` is then outside any transaction.
 */
async function lockedSnapshot(
  pgc: PostgresSourceConfig,
  c: pg.Client,
  tables: string[],
): Promise<string | undefined> {
  if (tables.length === 0) return undefined;
  for (let attempt = 0; attempt < LOCK_TRIES; attempt++) {
    const locker = await connect(pgc);
    try {
      await locker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await locker.query(`SET LOCAL lock_timeout = ${LOCK_WAIT_MS}`);
      // LOCK comes before any query, so the transaction's snapshot is taken after it.
      await locker.query(`LOCK TABLE ${tables.map(quoteTable).join(', ')} IN SHARE MODE`);
      const r = await locker.query<{ s: string; l: string }>(
        'SELECT pg_export_snapshot() s, pg_current_wal_insert_lsn()::text l',
      );
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await c.query(`SET TRANSACTION SNAPSHOT '${r.rows[0]!.s}'`);
      return r.rows[0]!.l;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      const code = (err as { code?: unknown }).code;
      // 55P03 lock_not_available: a writer did not finish in time; try again. Anything else
      // (42501: the role may not lock these tables) will not change by trying.
      if (code !== '55P03') return undefined;
    } finally {
      // Ends the lock (COMMIT of a read-only transaction; a failed one is rolled back).
      await locker.query('COMMIT').catch(() => {});
      await locker.end().catch(() => {});
    }
  }
  return undefined;
}

/**
 * A REPEATABLE READ snapshot on `c` and the WAL position read by its first statement: the flush
 * position, which a synchronous commit passes only just before it becomes visible (the write
 * position, used before, passes it before the flush, a window of a whole fsync).
 */
async function plainSnapshot(c: pg.Client): Promise<string> {
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  return (await c.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text l')).rows[0]!.l;
}

async function countInSnapshot(c: pg.Client, names: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for (const t of names) {
      const r = await c.query<{ n: string }>(`SELECT count(*)::text n FROM ${quoteTable(t)}`);
      out[t] = Number(r.rows[0]!.n);
    }
  } finally {
    await c.query('COMMIT').catch(() => {});
  }
  return out;
}

/** The configured tables, or every table outside the system schemas (the heartbeat left out). */
export async function tableNames(c: pg.Client, configured: string[], heartbeat: string): Promise<string[]> {
  if (configured.length) return configured;
  const r = await c.query<{ t: string }>(
    `SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END t
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg_toast%' AND NOT c.relispartition ORDER BY 1`,
  );
  return r.rows.map((x) => x.t).filter((t) => t !== heartbeat);
}
