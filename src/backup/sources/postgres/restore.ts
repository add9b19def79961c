/**
 * Restoring a PostgreSQL point: the base backup's tar streamed (decrypted in parallel, written in
 * order) into `tar -x`, the WAL from its start segment on fetched ahead in parallel into pg_wal,
 * then recovery settings (recovery.signal, the target, promote at the end, archive_mode off so the
 * restored cluster can never push into our repository), owned by the OS user with mode 0700.
 * With `start`, the server is started and awaited until it is promoted and accepts connections.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from '../../context.js';
import type { CatalogEntry } from '../../repo/types.js';
import { IntegrityError, SafetynetError, UsageError } from '../../../errors.js';
import type { DbRestoreOptions, DbRestoreResult } from '../types.js';
import type { PostgresManifest } from './manifest.js';
import { runTool } from './tools.js';
import { fsyncDir } from '../../../util/fs.js';
import { mapLimit } from '../../repo/repository.js';
import { quoteTable } from './conn.js';
import { listWal, pgConfig } from './walstream.js';
import { parseSegmentName, segmentKey, segmentName, type WalListing } from './wal.js';
import { startServer, type StartedServer } from './server.js';
import { extractInWorkers, type WalFileJob } from './extract-pool.js';
import { Phases } from './phases.js';

export interface PgRestoreResult extends DbRestoreResult {
  walSegments: number;
  /** First segment missing after the base (recovery ends there), if any. */
  walGap: string | null;
  started?: StartedServer;
}

/** Chooses the base backup for a restore. */
export function chooseBase(
  points: CatalogEntry[],
  opts: { at?: number; pointId?: string; now: number },
): CatalogEntry {
  const db = points.filter((p) => p.source === 'db');
  if (db.length === 0) {
    throw new SafetynetError('E_NO_POINTS', 'the repository holds no database restore point', {
      hint: 'run `safetynet backup db` first; `safetynet backups list` shows what the repository holds',
      exitCode: 1,
    });
  }
  if (opts.pointId) {
    const p = db.find((x) => x.id === opts.pointId);
    if (!p)
      throw new UsageError('E_NO_SUCH_POINT', `no database point with id ${opts.pointId}`, {
        hint: 'pick an id from `safetynet backups list`',
      });
    return p;
  }
  if (opts.at === undefined) return db[db.length - 1]!;
  if (opts.at > opts.now) {
    throw new UsageError('E_AT_FUTURE', `--at ${new Date(opts.at).toISOString()} is in the future`, {
      hint: `give a time at or before now (${new Date(opts.now).toISOString()}), or leave --at out for the newest state`,
    });
  }
  const consistent = (p: CatalogEntry) => Date.parse(String(p.summary?.consistentAt ?? p.time));
  let chosen: CatalogEntry | undefined;
  for (const p of db) if (consistent(p) <= opts.at) chosen = p;
  if (!chosen) {
    throw new UsageError(
      'E_AT_BEFORE_FIRST',
      `--at ${new Date(opts.at).toISOString()} is before the earliest base backup was consistent`,
      { hint: `the earliest restorable time is ${new Date(consistent(db[0]!)).toISOString()}` },
    );
  }
  return chosen;
}

/** Segments to fetch from the base's start: contiguous on its timeline; the first missing one ends it. */
export function walPlan(
  listing: WalListing,
  m: Pick<PostgresManifest['database'], 'timeline' | 'segSize' | 'startWal'>,
): { names: string[]; gap: string | null } {
  const { timeline, segSize } = m;
  const start = parseSegmentName(m.startWal, segSize)!.segNo;
  let newest = start;
  for (const name of [...listing.segments.keys(), ...listing.pieces.keys()]) {
    const s = parseSegmentName(name, segSize);
    if (s && s.timeline === timeline && s.segNo > newest) newest = s.segNo;
  }
  const names: string[] = [];
  for (let seg = start; seg <= newest; seg++) {
    const name = segmentName(timeline, seg, segSize);
    if (listing.segments.has(name)) names.push(name);
    else if (listing.pieces.has(name)) {
      names.push(name);
      // An open segment is the end of the chain unless its pieces cover it whole.
      const pieces = listing.pieces.get(name)!;
      if (pieces[pieces.length - 1]!.end < segSize) {
        return { names, gap: seg < newest ? segmentName(timeline, seg + 1n, segSize) : null };
      }
    } else return { names, gap: name };
  }
  return { names, gap: null };
}

/** Restores a point into a data directory. */
export interface InternalRestoreOptions {
  /** Run the started server as our supervised child (restore tests, drills) instead of detached. */
  supervised?: boolean;
  /** Called after the files are in place and before the server starts (pg_verifybackup). */
  beforeStart?: (dataDir: string) => Promise<void>;
}

export async function restorePostgres(
  deps: BackupDeps,
  opts: DbRestoreOptions,
  internal: InternalRestoreOptions = {},
): Promise<PgRestoreResult> {
  const { repo, clock } = deps;
  const pgc = pgConfig(deps);
  const t0 = performance.now();
  const phases = new Phases();
  await repo.requireConfig();
  await repo.identities();
  const target = path.resolve(opts.to);
  const lock = opts.locked ? undefined : await repo.lock('restore db', false);
  try {
    const points = await repo.listPoints();
    const point = chooseBase(points, {
      ...(opts.at !== undefined ? { at: opts.at } : {}),
      ...(opts.pointId ? { pointId: opts.pointId } : {}),
      now: clock.now(),
    });
    const manifest = await repo.readManifest<PostgresManifest>(point);
    await prepareTarget(target, Boolean(opts.force));
    if (opts.start) await reachableBy(pgc.osUser, target);
    const m = manifest.database;

    // Base backup and WAL at once: the tar streams in order while segments are fetched ahead.
    const listing = await listWal(deps);
    const plan = walPlan(listing, m);
    const stopSeg = parseSegmentName(m.stopWal, m.segSize)!.segNo;
    if (plan.gap && parseSegmentName(plan.gap, m.segSize)!.segNo <= stopSeg) {
      throw new IntegrityError(
        'E_WAL_MISSING',
        `WAL segment ${plan.gap} is missing: point ${point.id} cannot be made consistent`,
        { hint: 'restore another point (`safetynet backups list`) and run `safetynet verify`' },
      );
    }
    phases.lap('planMs');
    const walDir = path.join(target, 'pg_wal');
    await fsp.mkdir(walDir, { recursive: true, mode: 0o700 });
    const times = await extractInWorkers(
      repo,
      target,
      point.id,
      manifest.parts,
      walJobs(listing, plan.names, walDir, m.segSize),
    ).catch((err: unknown) => {
      throw asSpaceError(err, target);
    });
    phases.add('baseMs', times.baseMs);
    phases.add('walMs', times.walMs);
    await syncDirectories(target); // the files are synced; their names must be too
    phases.lap('filesMs');
    if (internal.beforeStart) {
      await internal.beforeStart(target);
      phases.lap('beforeStartMs');
    }
    await writeRecoveryConfig(target, opts, clock.now());
    await own(deps, target);
    phases.lap('configMs');

    let started: StartedServer | undefined;
    let tables: Record<string, number> = {};
    if (opts.start) {
      started = await startServer(deps, target, {
        ...(opts.port ? { port: opts.port } : {}),
        detached: !internal.supervised,
        phases,
      });
      // The server accepts writes from here on; the counts (the contract's proof of the restored
      // rows) come after, as their own phase.
      tables = await countRestored(started, Object.keys(m.tables));
      phases.lap('countsMs');
    }
    return {
      point,
      chain: [point.id],
      to: target,
      sizeBytes: m.tarBytes,
      tables,
      expectedTables: m.tables,
      durationMs: Math.round(performance.now() - t0),
      phases: phases.ms,
      facts: {
        walSegments: plan.names.length,
        walGap: plan.gap,
        target: recoveryTargetText(opts),
        started: started ? started.port : null,
      },
      walSegments: plan.names.length,
      walGap: plan.gap,
      ...(started
        ? { started, server: { port: started.port, pid: started.pid, stop: () => started.stop() } }
        : {}),
    };
  } finally {
    await lock?.release().catch(() => {});
  }
}

async function prepareTarget(target: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await fsp.readdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new UsageError('E_TARGET_NOT_DIR', `--to ${target} is a file`, {
        hint: 'a PostgreSQL restore builds a data directory: give a folder path',
      });
  }
  if (entries.length && !force) {
    throw new UsageError(
      'E_TARGET_EXISTS',
      `--to ${target} is not empty; restore never overwrites unless asked`,
      {
        hint: 'restore into an empty or new folder, or add --force (stop any server using that folder first)',
      },
    );
  }
  for (const e of entries) await fsp.rm(path.join(target, e), { recursive: true, force: true });
  await fsp.mkdir(target, { recursive: true, mode: 0o700 });
}

/** Refuses early when the OS user that will run the server cannot reach the data directory. */
async function reachableBy(user: string, dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  try {
    await runTool('test', ['-x', path.dirname(dir)], { asUser: user });
  } catch {
    throw new UsageError(
      'E_TARGET_UNREACHABLE',
      `the OS user ${user} (who runs the restored server) cannot reach ${dir}: a parent folder is not searchable`,
      {
        hint: `restore into a folder ${user} can reach (e.g. under /var/lib/postgresql or /tmp), or chmod o+x the parent folders`,
      },
    );
  }
}

/** The WAL files to write: closed segments whole, open ones from their pieces over zeros. */
function walJobs(listing: WalListing, names: string[], walDir: string, segSize: number): WalFileJob[] {
  return names.map((name) => {
    const seg = listing.segments.get(name);
    const pieces = seg
      ? [{ key: seg.key, start: 0 }]
      : listing.pieces.get(name)!.map((p) => ({ key: p.info.key, start: p.start }));
    return {
      path: path.join(walDir, name),
      size: segSize,
      pieces,
      ...(seg ? {} : { closedKey: segmentKey(name) }),
    };
  });
}

/** fsyncs every directory under (and including) `root`, so the restored files' names are durable. */
async function syncDirectories(root: string): Promise<void> {
  const dirs = [root];
  for (const e of await fsp.readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isDirectory()) dirs.push(path.join(e.parentPath, e.name));
  }
  await mapLimit(dirs, 8, (d) => fsyncDir(d));
}

/** A full disk is E_NO_SPACE (environment), not a damaged backup. */
function asSpaceError(err: unknown, dir: string): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') return err;
  return new SafetynetError('E_NO_SPACE', `the disk holding ${dir} filled up during the restore`, {
    hint: 'free some space or restore to another disk with --to (add --force to reuse the folder)',
    cause: err,
  });
}

function recoveryTargetText(opts: DbRestoreOptions): string {
  if (opts.at !== undefined) return new Date(opts.at).toISOString();
  const t = opts.recoveryTarget;
  if (t && typeof t === 'object') return `lsn ${t.lsn}`;
  if (t === 'point' || (opts.pointId && t !== 'latest')) return 'the point';
  return 'latest';
}

/** recovery.signal and the settings of a safe point-in-time recovery (last values win). */
async function writeRecoveryConfig(target: string, opts: DbRestoreOptions, now: number): Promise<void> {
  const lines = [
    '',
    `# added by safetynet restore at ${new Date(now).toISOString()}`,
    // WAL is in pg_wal already; a failing restore_command makes recovery read it from there.
    "restore_command = 'false'",
    "archive_mode = 'off'",
    "archive_command = ''",
    "primary_conninfo = ''",
    "primary_slot_name = ''",
    "recovery_target_timeline = 'current'",
  ];
  const t = opts.recoveryTarget;
  if (opts.at !== undefined) {
    lines.push(
      `recovery_target_time = '${new Date(opts.at).toISOString().replace('T', ' ').replace('Z', '+00')}'`,
    );
    lines.push("recovery_target_inclusive = 'true'");
  } else if (t && typeof t === 'object') {
    lines.push(`recovery_target_lsn = '${t.lsn}'`);
  } else if (t === 'point' || (opts.pointId && t !== 'latest')) {
    lines.push("recovery_target = 'immediate'");
  }
  lines.push("recovery_target_action = 'promote'", '');
  await fsp.appendFile(path.join(target, 'postgresql.auto.conf'), lines.join('\n'));
  await fsp.writeFile(path.join(target, 'recovery.signal'), '');
  await fsp.rm(path.join(target, 'standby.signal'), { force: true });
}

/** Gives the data directory to the OS user (when we are root) with mode 0700. */
async function own(deps: BackupDeps, target: string): Promise<void> {
  const pgc = pgConfig(deps);
  if (process.getuid?.() === 0) await runTool('chown', ['-R', `${pgc.osUser}:`, target]);
  await fsp.chmod(target, 0o700);
}

/** Row counts of `tables` in a started restore, two tables at a time (one per core). */
export async function countRestored(s: StartedServer, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const queue = [...tables];
  const counter = async () => {
    if (queue.length === 0) return;
    const c = await s.client();
    try {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        const r = await c.query<{ n: string }>(`SELECT count(*)::text n FROM ${quoteTable(t)}`);
        out[t] = Number(r.rows[0]!.n);
      }
    } finally {
      await c.end().catch(() => {});
    }
  };
  await Promise.all([counter(), counter()]);
  return Object.fromEntries(tables.map((t) => [t, out[t]!]));
}
