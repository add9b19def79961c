/**
 * `safetynet serve`: the scheduler and the admin panel in one long-running process.
 *
 * Start: open the logger (worker-thread writer), the repository, take the instance lock (one serve
 * per repository), start the scheduler (it catches up missed runs) and the admin panel.
 * Stop (SIGTERM/SIGINT): stop taking jobs, abort the running one cleanly (a backup that is stopped
 * leaves no visible point), close the panel, flush the logs, exit 0.
 */
import { openRepository, noProgress, type BackupDeps } from '../backup/context.js';
import { createLogger } from '../log/index.js';
import type { Logger } from '../log/types.js';
import type { SafetynetConfig } from '../config/types.js';
import { Scheduler, type SchedulerEvent } from '../schedule/scheduler.js';
import { JsonFileStateStore } from '../schedule/state.js';
import { systemTimerClock, type TimerClock } from '../clock.js';
import { schedulerStatePath } from '../backup/status.js';
import { scheduledJobs, startBackgroundServices, type BackgroundService } from './jobs.js';
import { RepositoryInstanceLock } from './instance-lock.js';
import { backupsPageProvider } from './backups-provider.js';
import { startAdminServer, type AdminServer } from '../web/server.js';
import { FileAdminUserStore } from '../web/auth/users.js';
import { formatDuration } from '../util/time.js';

export interface ServeOptions {
  clock?: TimerClock;
  /** Override admin.host / admin.port (tests pass port 0). */
  host?: string;
  port?: number;
  /** Delay before catch-up runs at start (default 10 s; tests use 0). */
  catchUpDelayMs?: number;
  /** Start without the admin panel. */
  noPanel?: boolean;
}

export interface RunningServe {
  url: string | null;
  scheduler: Scheduler;
  logger: Logger;
  deps: BackupDeps;
  /** Stops everything; `abortRunning` aborts the running job instead of waiting for it. */
  stop(opts?: { abortRunning?: boolean }): Promise<void>;
}

export async function startServe(config: SafetynetConfig, opts: ServeOptions = {}): Promise<RunningServe> {
  const clock = opts.clock ?? systemTimerClock;
  const logger = await createLogger({ config, clock });
  const repo = openRepository(config, clock);
  const deps: BackupDeps = { config, repo, clock, log: logger.backup, logger, progress: noProgress };
  const scheduler = new Scheduler({
    clock,
    timezone: config.backup.timezone,
    jobs: scheduledJobs(deps, logger),
    state: new JsonFileStateStore(schedulerStatePath(config.backup.stateDir)),
    lock: new RepositoryInstanceLock(repo, (l) => {
      void logger.backup.warn(
        `took over the serve lock of pid ${l.pid} on ${l.host}, which is no longer running`,
        { details: { lock: l } },
      );
    }),
    onEvent: (e) => void logEvent(logger, e),
    ...(opts.catchUpDelayMs !== undefined ? { catchUpDelayMs: opts.catchUpDelayMs } : {}),
  });
  let panel: AdminServer | undefined;
  let services: BackgroundService[] = [];
  try {
    await scheduler.start();
    services = startBackgroundServices(deps);
    if (!opts.noPanel) {
      panel = await startAdminServer(
        {
          config,
          logStore: logger.store,
          logger,
          users: new FileAdminUserStore(config.admin.users),
          clock,
          backups: backupsPageProvider(deps, scheduler),
          trustProxy: config.admin.trustProxy,
        },
        {
          ...(opts.host !== undefined ? { host: opts.host } : {}),
          ...(opts.port !== undefined ? { port: opts.port } : {}),
        },
      );
    }
  } catch (err) {
    for (const s of services) await s.stop().catch(() => {});
    await scheduler.stop({ abortRunning: true }).catch(() => {});
    await repo.close().catch(() => {});
    await logger.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: panel?.url ?? null,
    scheduler,
    logger,
    deps,
    stop(o = {}) {
      stopping ??= (async () => {
        await panel?.close().catch(() => {});
        await scheduler.stop({ abortRunning: o.abortRunning ?? true });
        for (const s of services) await s.stop().catch(() => {});
        await repo.close().catch(() => {});
        await logger.close();
      })();
      return stopping;
    },
  };
}

/** Every scheduler event becomes a `backup` log entry: start, end, duration, outcome. */
async function logEvent(logger: Logger, e: SchedulerEvent): Promise<void> {
  const log = logger.backup;
  switch (e.type) {
    case 'scheduler-start':
      await log.info(
        `scheduler started${e.catchUp.length ? `; catching up missed runs: ${e.catchUp.join(', ')}` : ''}`,
        { details: { ...e } },
      );
      break;
    case 'run-interrupted':
      await log.warn(
        `the ${e.job} run that started at ${e.record.startedAt} was interrupted (the process ended); it is caught up`,
        {
          details: { job: e.job, record: e.record },
        },
      );
      break;
    case 'job-start':
      await log.info(
        `job ${e.job} started (${e.reason}${e.lateMs > 1000 ? `, ${formatDuration(e.lateMs)} after its slot` : ''})`,
        {
          details: {
            job: e.job,
            reason: e.reason,
            slot: e.slot,
            lateMs: e.lateMs,
            coalescedSlots: e.coalescedSlots,
          },
        },
      );
      break;
    case 'job-end': {
      const details = {
        job: e.job,
        outcome: e.outcome,
        durationMs: e.durationMs,
        summary: e.summary,
        slot: e.slot,
        consecutiveFailures: e.consecutiveFailures,
      };
      const line = `job ${e.job} ${e.outcome} in ${formatDuration(e.durationMs ?? 0)}${e.summary ? `: ${e.summary}` : ''}`;
      if (e.outcome === 'success') await log.info(line, { details });
      else if (e.outcome === 'aborted') await log.warn(line, { details });
      else if (e.error)
        await logger.error(e.error, {
          category: 'backup',
          level: e.consecutiveFailures >= 3 ? 'critical' : 'error',
          message: `${line}: ${e.error.message}`,
          details,
        });
      else await log.error(line, { details });
      break;
    }
    case 'clock-step': {
      const moved = `${e.deltaMs < 0 ? 'back' : 'forward'} by ${formatDuration(Math.abs(e.deltaMs))}`;
      await log.warn(
        `the system clock moved ${moved} (NTP step, manual change or resume from suspend); the schedule follows the new time, and restore points stay in order`,
        { details: { ...e } },
      );
      break;
    }
    case 'scheduler-error':
      await logger.error(e.error, { category: 'backup', message: `scheduler: ${e.message}` });
      break;
    case 'scheduler-stop':
      if (e.lockLost) {
        await log.critical(
          'scheduler stopped: the instance lock in the repository could not be renewed; serve exits so a supervisor restarts it',
          { details: { ...e } },
        );
        break;
      }
      await log.info(`scheduler stopped${e.abortedJob ? ` (aborted ${e.abortedJob})` : ''}`, {
        details: { ...e },
      });
      break;
  }
}
