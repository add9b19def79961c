/**
 * What every backup operation needs, gathered once per command or scheduled job.
 */
import { createStorage } from './storage/index.js';
import { Repository } from './repo/repository.js';
import type { SafetynetConfig } from '../config/types.js';
import type { Clock } from '../clock.js';
import type { CategoryLogger, Logger } from '../log/types.js';

/** Progress of long work, for a terminal progress bar (or nothing). */
export interface Progress {
  /** Starts (or restarts) a phase with a known total in bytes (or items). */
  start(label: string, total: number): void;
  /** Adds `n` done to the current phase. */
  advance(n: number): void;
  /** Ends the current phase. */
  done(): void;
}

export const noProgress: Progress = { start() {}, advance() {}, done() {} };

export interface BackupDeps {
  config: SafetynetConfig;
  repo: Repository;
  clock: Clock;
  /** The `backup` category logger; every backup, restore, verify and prune writes entries through it. */
  log: CategoryLogger;
  /** The whole logger, for failures: `logger.error(err, { category: 'backup' })` keeps the stack and causes. */
  logger: Logger;
  progress: Progress;
}

/** Opens the configured repository (no network or disk I/O until first use). */
export function openRepository(
  config: SafetynetConfig,
  clock: Clock,
  opts: { workers?: number } = {},
): Repository {
  const storage = createStorage(config.backup);
  return new Repository({
    storage,
    recipients: config.backup.recipients,
    ...(config.backup.identity ? { identityFile: config.backup.identity } : {}),
    stateDir: config.backup.stateDir,
    clock,
    ...(opts.workers ? { workers: opts.workers } : {}),
  });
}

/**
 * Everything backup functions need, for library users: the repository, the real logger (its
 * `backup` category) and the system clock. Close `repo` and `logger` when done.
 */
export async function backupDepsFromConfig(config: SafetynetConfig): Promise<BackupDeps> {
  const { createLogger } = await import('../log/index.js');
  const { systemClock } = await import('../clock.js');
  const logger = await createLogger({ config });
  const repo = openRepository(config, systemClock);
  return { config, repo, clock: systemClock, log: logger.backup, logger, progress: noProgress };
}
