/**
 * The restore test (monthly, and on demand): restores the newest database point into a scratch
 * folder and checks it the way a person would before trusting it — the checks are the source's
 * (SQLite: SHA-256, PRAGMA integrity_check and foreign_key_check, row counts; PostgreSQL: a
 * scratch server, pg_amcheck, pg_verifybackup, row counts) — then restores a
 * sample of files (or all) and checks their hashes. The result, with every check, is recorded in
 * the repository's history and as a log entry; the scratch copy is always deleted.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from './context.js';
import { databaseSource, fileSetSource, logStoreSource } from './sources/index.js';
import type { AnyBackupSource, RestoreTestCheck } from './sources/types.js';
import type { CatalogEntry } from './repo/types.js';
import type { HistoryRecord } from './repo/repository.js';
import { formatDuration } from '../util/time.js';
import { throwIfStopped } from '../util/abort.js';

export type { RestoreTestCheck };

export interface RestoreTestResult extends HistoryRecord {
  kind: 'restore-test';
  ok: boolean;
  /** The database point tested (null when the repository holds none). */
  point: { id: string; time: string; kind: string } | null;
  filesPoint: { id: string; time: string } | null;
  checks: RestoreTestCheck[];
  durationMs: number;
  /** Which check failed first, for the one-line summary. */
  failed?: string;
}

export interface RestoreTestOptions {
  /** Restore every file instead of a sample. */
  allFiles?: boolean;
  /** Files sampled when not --all-files (default 20). */
  sample?: number;
  /** Where the scratch copy goes (default: backup.stateDir/scratch). */
  scratchDir?: string;
  /** Who asked: "schedule", "cli", "admin:alice" (recorded). */
  trigger?: string;
  /** Stops the test between steps and inside the files check (serve's SIGTERM); nothing is recorded then. */
  signal?: AbortSignal;
}

/** Runs the restore test and records it. Never throws for a failed check: the result says so. */
export async function runRestoreTest(
  deps: BackupDeps,
  opts: RestoreTestOptions = {},
): Promise<RestoreTestResult> {
  const { repo, clock } = deps;
  const started = clock.now();
  const t0 = performance.now();
  const checks: RestoreTestCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const scratchRoot = opts.scratchDir ?? path.join(deps.config.backup.stateDir, 'scratch');
  const scratch = path.join(scratchRoot, `restore-test-${randomBytes(4).toString('hex')}`);
  let point: CatalogEntry | undefined;
  let filesPoint: CatalogEntry | undefined;
  const lock = await repo.lock('restore test', false);
  try {
    await fsp.mkdir(scratch, { recursive: true });
    const points = await repo.listPoints();
    const newest = (source: AnyBackupSource) =>
      [...points].reverse().find((p) => p.source === source.pointSource);
    const db = databaseSource(deps.config);
    point = newest(db);
    filesPoint = newest(fileSetSource);
    const logsSource = logStoreSource(deps.config); // the SQLite log store's own points ("logs")
    const scope = {
      sample: opts.allFiles ? 'all' : (opts.sample ?? 20),
      ...(opts.signal ? { signal: opts.signal } : {}),
    } as const;
    // Every source's newest point, through the same contract. The database point is required (a
    // repository without one fails the test); file sets are optional.
    // The log store's checks are named "log store: …" and restore into a folder of their own.
    type Tested = [AnyBackupSource, CatalogEntry | undefined, boolean, string];
    const tested: Tested[] = [[db, point, true, '']];
    if (logsSource) tested.push([logsSource, newest(logsSource), false, 'log store']);
    tested.push([fileSetSource, filesPoint, false, '']);
    for (const [source, p, required, label] of tested) {
      throwIfStopped(opts.signal, 'restore test', 'nothing was recorded');
      if (p) {
        const dir = label ? path.join(scratch, 'logs') : scratch;
        await fsp.mkdir(dir, { recursive: true });
        for (const c of await source.restoreTest(deps, p, dir, scope))
          checks.push(label ? { ...c, name: `${label}: ${c.name}` } : c);
      } else if (required)
        check('database point exists', false, 'the repository holds no database restore point');
    }
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true }).catch(() => {});
    await lock.release().catch(() => {});
  }
  // A test stopped midway proves nothing either way: not recorded as passed or failed.
  throwIfStopped(opts.signal, 'restore test', 'nothing was recorded');
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  const failed = checks.find((c) => !c.ok);
  const result: RestoreTestResult = {
    kind: 'restore-test',
    id: randomBytes(4).toString('hex'),
    time: new Date(started).toISOString(),
    ok,
    trigger: opts.trigger ?? 'cli',
    point: point ? { id: point.id, time: point.time, kind: point.kind } : null,
    filesPoint: filesPoint ? { id: filesPoint.id, time: filesPoint.time } : null,
    checks,
    durationMs: Math.round(performance.now() - t0),
    ...(failed ? { failed: failed.name } : {}),
  };
  await repo.writeHistory(result).catch(async (err) => {
    await deps.logger.error(err, {
      category: 'backup',
      message: `could not record the restore test in the repository: ${(err as Error).message}`,
    });
  });
  if (ok) {
    await deps.log.info(
      `restore test passed: point ${point!.id}, ${checks.length} checks, ${formatDuration(result.durationMs)}`,
      {
        details: { ...result },
      },
    );
  } else {
    await deps.log.critical(`restore test FAILED: ${failed?.name}: ${failed?.detail}`, {
      details: { ...result },
    });
  }
  return result;
}
