/**
 * Builds the dependencies of backup work for one CLI command: repository, clock, loggers,
 * progress bar; closes the repository when the command ends.
 */
import { openRepository, type BackupDeps } from '../backup/context.js';
import { systemClock } from '../clock.js';
import type { CommandContext } from './context.js';
import { terminalProgress } from './progress.js';

export async function backupDeps(ctx: CommandContext): Promise<BackupDeps> {
  const config = ctx.config;
  const logger = await ctx.logger();
  const repo = openRepository(config, systemClock);
  ctx.defer(() => repo.close());
  return {
    config,
    repo,
    clock: systemClock,
    log: logger.backup,
    logger,
    progress: terminalProgress(ctx.json),
  };
}
