/**
 * What `status`, `doctor` and the Backups page say about a PostgreSQL source: the server settings
 * continuous WAL needs (wal_level, max_wal_senders, the slot limit, the role's REPLICATION right)
 * and the WAL stream (running, lag in seconds and bytes, the slot's wal_status, the newest stored
 * WAL object, gaps). Every warning says what to do.
 */
import { promises as fsp } from 'node:fs';
import type pg from 'pg';
import type { BackupDeps } from '../../context.js';
import type { CatalogEntry } from '../../repo/types.js';
import type { PostgresSourceConfig } from '../../../config/types.js';
import type { SourceHealth, StreamStatus } from '../types.js';
import { connect, quoteTable, withClient } from './conn.js';
import { listWal, pgConfig, streamStatePath, type StreamState } from './walstream.js';
import { parseLsn } from './wal.js';
import { verifyWal } from './wal-chain.js';

/** One finding of `doctor`: a setting, its value, and what to change when it is not right. */
export interface ServerCheck {
  name: string;
  ok: boolean;
  value: string;
  advice: string;
}

/** Checks the server's settings for base backups and continuous WAL. */
export async function serverChecks(pgc: PostgresSourceConfig, c?: pg.Client): Promise<ServerCheck[]> {
  const run = async (client: pg.Client) => {
    const r = await client.query<Record<string, string | boolean | null>>(
      `SELECT current_setting('wal_level') wal_level, current_setting('max_wal_senders') senders,
              current_setting('max_replication_slots') slots, current_setting('max_slot_wal_keep_size') keep,
              current_setting('server_version_num') version,
              (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) repl,
              (SELECT count(*) FROM pg_stat_replication)::text used`,
    );
    const x = r.rows[0]!;
    const keep = String(x.keep);
    return [
      {
        name: 'wal_level',
        ok: x.wal_level === 'replica' || x.wal_level === 'logical',
        value: String(x.wal_level),
        advice: 'set wal_level = replica (restart needed): minimal WAL cannot restore to a point in time',
      },
      {
        name: 'max_wal_senders',
        ok: Number(x.senders) >= 2,
        value: `${String(x.senders)} (${String(x.used)} in use)`,
        advice: 'set max_wal_senders to at least 2 (the WAL stream and a base backup run at once)',
      },
      {
        name: 'max_replication_slots',
        ok: Number(x.slots) >= 1,
        value: String(x.slots),
        advice: 'set max_replication_slots to at least 1 (safetynet streams from its own slot)',
      },
      {
        name: 'max_slot_wal_keep_size',
        ok: keep !== '-1',
        value: keep,
        advice:
          'set max_slot_wal_keep_size (e.g. 10GB, what the disk can spare): with -1 a stalled WAL stream keeps WAL until the server disk is full; with a limit the slot is invalidated instead and safetynet starts a new chain at the next base backup',
      },
      {
        name: 'role has REPLICATION',
        ok: x.repl === true,
        value: String(x.repl),
        advice: 'ALTER ROLE <the safetynet role> REPLICATION (superuser is not needed)',
      },
      {
        name: 'server version',
        ok: Number(x.version) >= 150000,
        value: String(x.version),
        advice: 'PostgreSQL 15 or newer is supported',
      },
    ];
  };
  return c ? run(c) : withClient(pgc, run);
}

/** The heartbeat row's time (ms), from the live server or a given client. */
export async function heartbeatAt(pgc: PostgresSourceConfig, c?: pg.Client): Promise<number | undefined> {
  const run = async (client: pg.Client) => {
    const r = await client.query<{ at: Date }>(
      `SELECT at FROM ${quoteTable(pgc.heartbeatTable)} WHERE id = 1`,
    );
    return r.rows[0] ? r.rows[0].at.getTime() : undefined;
  };
  if (c) {
    try {
      return await run(c);
    } finally {
      await c.end().catch(() => {});
    }
  }
  return withClient(pgc, run);
}

/** Warnings and the stream's state for `status`. */
export async function postgresHealth(deps: BackupDeps, points: CatalogEntry[]): Promise<SourceHealth> {
  const pgc = pgConfig(deps);
  const warnings: string[] = [];
  let state: StreamState | undefined;
  try {
    state = JSON.parse(await fsp.readFile(streamStatePath(deps), 'utf8')) as StreamState;
  } catch {
    // never streamed on this machine
  }
  const alive = state?.running === true && isAlive(state.pid);
  const stream: StreamStatus = {
    running: alive,
    lagSeconds: null,
    lagBytes: null,
    slot: null,
    newestObject: state?.lastUpload ? { key: state.lastUpload.key, time: state.lastUpload.at } : null,
    gaps: [],
    warnings: [],
  };
  let client: pg.Client | undefined;
  try {
    client = await connect(pgc);
    for (const c of await serverChecks(pgc, client))
      if (!c.ok) warnings.push(`PostgreSQL ${c.name} is ${c.value}: ${c.advice}`);
    const r = await client.query<{ active: boolean; wal_status: string | null; current: string }>(
      `SELECT s.active, s.wal_status, pg_current_wal_lsn()::text current FROM (SELECT 1) one
         LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
      [pgc.slot],
    );
    const row = r.rows[0]!;
    stream.slot = { name: pgc.slot, walStatus: row.wal_status, active: row.active };
    if (row.active === null) {
      warnings.push(
        `the replication slot ${pgc.slot} does not exist: run \`safetynet backup db\` or start \`safetynet serve\` (both create it)`,
      );
    } else if (row.wal_status === 'lost') {
      warnings.push(
        `the replication slot ${pgc.slot} was invalidated (wal_status lost): WAL was removed before safetynet stored it, so there is a gap; drop the slot (SELECT pg_drop_replication_slot('${pgc.slot}')) and run \`safetynet backup db\` now to start a new chain`,
      );
    } else if (row.wal_status === 'unreserved') {
      warnings.push(
        `the replication slot ${pgc.slot} is about to be invalidated (wal_status unreserved): is the WAL stream running?`,
      );
    }
    if (state?.lastUpload) {
      const lag = parseLsn(row.current) - parseLsn(state.lastUpload.lsn);
      stream.lagBytes = Number(lag > 0n ? lag : 0n);
      stream.lagSeconds =
        stream.lagBytes > 0 ? Math.round((deps.clock.now() - Date.parse(state.lastUpload.at)) / 1000) : 0;
    }
  } catch (err) {
    warnings.push(`the shop database cannot be reached for WAL status: ${(err as Error).message}`);
  } finally {
    await client?.end().catch(() => {});
  }
  if (!alive)
    warnings.push(
      'the WAL stream is not running: start `safetynet serve` (or `safetynet wal stream`), else only base backups can be restored',
    );
  else if (stream.lagSeconds !== null && stream.lagSeconds > Math.max(60, pgc.walUploadSeconds * 6))
    warnings.push(`the WAL stream is ${stream.lagSeconds} s behind the server (${stream.lagBytes} bytes)`);
  const db = points.filter((p) => p.source === 'db');
  if (db.length) {
    const problems = await verifyWal(deps, db.slice(-1), false);
    stream.gaps = problems.map((p) => p.message);
    warnings.push(...stream.gaps);
  }
  if (!stream.newestObject) {
    const listing = await listWal(deps).catch(() => undefined);
    const newest = listing ? [...listing.segments.values()].at(-1) : undefined;
    if (newest)
      stream.newestObject = {
        key: newest.key,
        time: newest.lastModified ? new Date(newest.lastModified).toISOString() : null,
      };
  }
  stream.warnings = [...warnings];
  return { warnings, stream };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
