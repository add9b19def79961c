/**
 * The scheduled jobs of `safetynet serve`, in priority order (earlier wins ties and runs first when
 * catching up): full before incremental before files, retention after the backups, the restore test
 * last. Each job writes its own `backup` log entries (through the backup functions); the scheduler's
 * events add start/end entries (see serve.ts).
 */
import type { BackupDeps } from '../backup/context.js';
import { backupDatabase, backupLogStore } from '../backup/database.js';
import { backupFiles } from '../backup/sources/files/backup.js';
import { pruneRepository } from '../backup/prune.js';
import { runRestoreTest } from '../backup/restore-test.js';
import { databaseSource } from '../backup/sources/index.js';
import { runReadVerify } from '../backup/read-verify.js';
import type { JobOutcome, JobSpec } from '../schedule/scheduler.js';
import type { Logger } from '../log/types.js';
import { retentionCutoffs } from '../log/retention.js';
import { formatBytes } from '../util/format.js';

/** The jobs for the configured schedule. */
export function scheduledJobs(deps: BackupDeps, logger: Logger): JobSpec[] {
  const s = deps.config.backup.schedule;
  return [
    {
      name: 'full',
      cron: s.full,
      run: async (signal) =>
        withLogStore(deps, 'full', signal, async () =>
          dbOutcome(await backupDatabase(deps, { mode: 'full', signal })),
        ),
    },
    {
      name: 'incremental',
      cron: s.incremental,
      // 'auto': an incremental, unless no full exists for today yet (then this run is the full).
      // A source without incremental points keeps a continuous log instead: nothing to do here.
      run: async (signal) =>
        withLogStore(deps, 'auto', signal, async () =>
          databaseSource(deps.config).capabilities.incrementalPoints
            ? dbOutcome(await backupDatabase(deps, { mode: 'auto', signal }))
            : { summary: 'the WAL stream is continuous; no incremental point is needed', details: {} },
        ),
    },
    {
      name: 'files',
      cron: s.files,
      run: async (signal) => {
        const r = await backupFiles(deps, { signal });
        const outcome: JobOutcome = {
          summary: `files point ${r.entry.id}: ${r.stats.files} files, ${formatBytes(r.stats.storedBytes)} added`,
          details: {
            point: r.entry.id,
            files: r.stats.files,
            storedBytes: r.stats.storedBytes,
            problems: r.problems.length,
          },
        };
        // An incomplete point is stored (what could be read is safe) but the run is a failure.
        if (r.problems.length)
          return {
            ...outcome,
            status: 'failed',
            summary: `${outcome.summary}; ${r.problems.length} files could not be read`,
          };
        return outcome;
      },
    },
    {
      name: 'retention',
      cron: s.retention,
      run: async (signal) => {
        const r = await pruneRepository(deps, { dryRun: false, signal });
        return {
          summary: `kept ${r.kept}, removed ${r.removed} points, freed ${formatBytes(r.freedBytes)}`,
          details: { kept: r.kept, removed: r.removed },
        };
      },
    },
    {
      name: 'log-retention',
      cron: s.logRetention,
      run: async () => {
        const plan = retentionCutoffs(deps.config.logs.retention, deps.clock.now());
        const r = await logger.store.prune({ cutoffs: plan.cutoffs, defaultCutoff: plan.defaultCutoff });
        const perCategory = Object.fromEntries(Object.entries(r.categories).map(([c, x]) => [c, x.deleted]));
        if (r.total > 0)
          await logger.system.info(`retention deleted ${r.total} log entries`, {
            details: { perCategory, longestBatchMs: r.longestBatchMs },
          });
        return { summary: `deleted ${r.total} log entries`, details: { perCategory } };
      },
    },
    {
      name: 'restore-test',
      cron: s.restoreTest,
      run: async (signal, { reason }) => {
        // A run asked for from the admin panel is 'manual'; the panel logs who asked.
        const r = await runRestoreTest(deps, {
          trigger: reason === 'manual' ? 'manual' : 'schedule',
          signal,
        });
        return {
          status: r.ok ? 'success' : 'failed',
          summary: r.ok
            ? `restore test passed (${r.checks.length} checks)`
            : `restore test FAILED: ${r.failed}`,
          details: { id: r.id, point: r.point?.id ?? null, failed: r.failed ?? null },
        };
      },
    },
    readVerifyJob(deps),
  ];
}

/** The rotating read-verify (one slice of the repository per run); last, after the restore test. */
function readVerifyJob(deps: BackupDeps): JobSpec {
  return {
    name: 'read-verify',
    cron: deps.config.backup.schedule.readVerify,
    run: async (signal) => {
      const r = await runReadVerify(deps, { signal, trigger: 'schedule' });
      const where = `slice ${r.slice.index + 1}/${r.slice.count}: ${r.objects} objects`;
      return {
        status: r.ok ? 'success' : 'failed',
        summary: r.ok
          ? `read-verify ${where} intact`
          : `read-verify ${where}: ${r.problems.length} problem(s)`,
        details: { id: r.id, slice: r.slice, objects: r.objects, problems: r.problems.length },
      };
    },
  };
}

/**
 * Runs the database half of a job, then backs up the SQLite log store (its own "logs" points) the
 * same way, even when the database half failed: the first failure is rethrown after both ran.
 */
async function withLogStore(
  deps: BackupDeps,
  mode: 'full' | 'auto',
  signal: AbortSignal,
  database: () => Promise<JobOutcome>,
): Promise<JobOutcome> {
  let failure: unknown;
  let outcome: JobOutcome | undefined;
  try {
    outcome = await database();
  } catch (err) {
    failure = err;
  }
  if (signal.aborted && failure) throw failure;
  const logs = await backupLogStore(deps, { mode, signal }).catch((err: unknown) => {
    failure ??= err;
    return undefined;
  });
  if (failure) throw failure;
  if (!logs) return outcome!;
  return {
    ...outcome!,
    summary: `${outcome!.summary}; log store ${logs.kind} point ${logs.entry.id}: ${formatBytes(logs.entry.storedBytes)} stored`,
    details: { ...outcome!.details, logsPoint: logs.entry.id, logsKind: logs.kind },
  };
}

function dbOutcome(r: Awaited<ReturnType<typeof backupDatabase>>): JobOutcome {
  return {
    summary: `${r.kind} point ${r.entry.id}: ${formatBytes(r.entry.storedBytes)} stored`,
    details: {
      point: r.entry.id,
      kind: r.kind,
      storedBytes: r.entry.storedBytes,
      ...r.facts,
    },
  };
}

/** A service that runs beside the scheduler for the whole life of `serve` (the WAL stream). */
export interface BackgroundService {
  name: string;
  /** Stops the service and waits until its children are gone. */
  stop(): Promise<void>;
}

/**
 * Starts the source's continuous log stream, if it keeps one, supervised: a crash of the stream
 * itself (not of its child, which the stream restarts) is logged and retried after a minute.
 */
export function startBackgroundServices(deps: BackupDeps): BackgroundService[] {
  const source = databaseSource(deps.config);
  if (!source.capabilities.continuousLog || !source.streamLog) return [];
  const ac = new AbortController();
  const stream = source.streamLog.bind(source);
  const loop = (async () => {
    while (!ac.signal.aborted) {
      try {
        await stream(deps, ac.signal);
      } catch (err) {
        await deps.logger.error(err, {
          category: 'backup',
          message: `the WAL stream failed: ${(err as Error).message}; retrying in 60 s`,
        });
        await new Promise<void>((r) => {
          const t = setTimeout(r, 60_000);
          ac.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
        });
      }
    }
  })();
  return [
    {
      name: 'wal-stream',
      async stop() {
        ac.abort();
        await loop;
      },
    },
  ];
}
