/**
 * Restoring a PostgreSQL point: the base backup's tar streamed (decrypted in parallel, written in
 * order) into `tar -x`, the WAL from its start segment on fetched ahead in parallel into pg_wal,
 * then recovery settings (recovery.signal, the target, promote at the end, archive_mode off so the
 * restored cluster can never push into our repository), owned by the OS user with mode 0700.
 * With `start`, the server is started and awaited until it is promoted and accepts connections.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from '../../context.js';
import type { CatalogEntry } from '../../repo/types.js';
import { mapLimit } from '../../repo/repository.js';
import { IntegrityError, SafetynetError, UsageError } from '../../../errors.js';
import type { DbRestoreOptions, DbRestoreResult } from '../types.js';
import { forEachPartInOrder } from '../sqlite/restore.js';
import type { PostgresManifest } from './manifest.js';
import { runTool, spawnSupervised, commandFailed } from './tools.js';
import { listWal, pgConfig } from './walstream.js';
import { parseSegmentName, segmentName, type WalListing } from './wal.js';
import { startServer, type StartedServer } from './server.js';

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
    const tBase = performance.now();
    const walDir = path.join(target, 'pg_wal');
    const [sha256] = await Promise.all([
      extractBase(deps, manifest, target),
      (async () => {
        await fsp.mkdir(walDir, { recursive: true });
        await fetchWal(deps, listing, plan.names, walDir, m.segSize);
      })(),
    ]);
    if (sha256 !== m.sha256) {
      throw new IntegrityError(
        'E_RESTORE_CHECKSUM',
        `the restored base backup does not match point ${point.id}: SHA-256 ${sha256}, expected ${m.sha256}`,
        { hint: 'a stored object is damaged; run `safetynet verify --read-data` and restore another point' },
      );
    }
    const fetchMs = performance.now() - tBase;
    await internal.beforeStart?.(target);
    await writeRecoveryConfig(target, opts, clock.now());
    await own(deps, target);

    let started: StartedServer | undefined;
    let tables: Record<string, number> = {};
    let recoveryMs = 0;
    if (opts.start) {
      const tStart = performance.now();
      started = await startServer(deps, target, {
        ...(opts.port ? { port: opts.port } : {}),
        detached: !internal.supervised,
      });
      recoveryMs = performance.now() - tStart;
      tables = await countRestored(started, Object.keys(m.tables));
    }
    return {
      point,
      chain: [point.id],
      to: target,
      sizeBytes: m.tarBytes,
      sha256,
      tables,
      expectedTables: m.tables,
      durationMs: Math.round(performance.now() - t0),
      phases: { fetchAndWriteMs: Math.round(fetchMs), recoveryMs: Math.round(recoveryMs) },
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

/** Streams the base backup's parts (in order) into `tar -x`; returns the tar's SHA-256. */
async function extractBase(deps: BackupDeps, manifest: PostgresManifest, target: string): Promise<string> {
  const tar = spawnSupervised('tar', ['-x', '-f', '-', '-C', target], { stdin: true });
  const stdin = tar.child.stdin!;
  const hash = createHash('sha256');
  let broken: Error | undefined;
  stdin.on('error', (e) => (broken = e));
  try {
    await forEachPartInOrder(deps.repo, manifest, async (plain) => {
      if (broken) throw broken;
      hash.update(plain);
      if (!stdin.write(plain)) await new Promise<void>((r) => stdin.once('drain', () => r()));
    });
  } catch (err) {
    stdin.destroy();
    await tar.stop(1000);
    throw err;
  }
  stdin.end();
  const { code, signal } = await tar.exited;
  if (code !== 0) throw commandFailed(tar.command, code, signal, tar.stderr());
  return hash.digest('hex');
}

/** Fetches segments (4 at a time), assembling open segments from their pieces (zero-padded). */
async function fetchWal(
  deps: BackupDeps,
  listing: WalListing,
  names: string[],
  walDir: string,
  segSize: number,
): Promise<void> {
  const pool = await deps.repo.openPool();
  const open = async (key: string) =>
    (await pool.open(await deps.repo.storage.get(key), { name: key })).plain;
  await mapLimit(names, 4, async (name) => {
    let data: Buffer;
    const seg = listing.segments.get(name);
    if (seg) data = await open(seg.key);
    else {
      data = Buffer.alloc(segSize);
      for (const p of listing.pieces.get(name)!) (await open(p.info.key)).copy(data, p.start);
    }
    await fsp.writeFile(path.join(walDir, name), data, { mode: 0o600 });
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

/** Row counts of `tables` in a started restore. */
export async function countRestored(s: StartedServer, tables: string[]): Promise<Record<string, number>> {
  const c = await s.client();
  try {
    const out: Record<string, number> = {};
    for (const t of tables) {
      const q = t
        .split('.')
        .map((p) => `"${p.replace(/"/g, '""')}"`)
        .join('.');
      out[t] = Number((await c.query<{ n: string }>(`SELECT count(*)::text n FROM ${q}`)).rows[0]!.n);
    }
    return out;
  } finally {
    await c.end().catch(() => {});
  }
}
