/**
 * Database backup and restore as the CLI and the scheduler call them: picks the source for
 * `database.type` (sources/index.ts) and writes the `backup`-category log entries (success with
 * the figures, failure with the cause and stack).
 */
import { ExitCode, SafetynetError, UsageError } from '../errors.js';
import type { BackupDeps } from './context.js';
import { sealLogAnchor } from './log-anchor.js';
import { databaseSource, logStoreSource } from './sources/index.js';
import type { DatabaseSource } from './sources/types.js';
import type { DbBackupOptions, DbBackupResult, DbRestoreOptions, DbRestoreResult } from './sources/types.js';
import { formatBytes } from '../util/format.js';
import { formatDuration } from '../util/time.js';

export type { DbBackupOptions, DbBackupResult, DbRestoreOptions, DbRestoreResult };

/** Backs up the shop database and logs the outcome. */
export async function backupDatabase(deps: BackupDeps, opts: DbBackupOptions): Promise<DbBackupResult> {
  return backupWith(deps, databaseSource(deps.config), 'database', opts);
}

/**
 * Backs up the SQLite log store (catalog source "logs") and logs the outcome; undefined when the
 * log store is PostgreSQL (covered by that cluster's backups, not by a source of ours).
 */
export async function backupLogStore(
  deps: BackupDeps,
  opts: DbBackupOptions,
): Promise<DbBackupResult | undefined> {
  const source = logStoreSource(deps.config);
  return source ? backupWith(deps, source, 'log store', opts) : undefined;
}

/** Restores the SQLite log store to a file and logs the outcome. */
export async function restoreLogStore(deps: BackupDeps, opts: DbRestoreOptions): Promise<DbRestoreResult> {
  const source = logStoreSource(deps.config);
  if (!source) {
    throw new UsageError('E_USAGE', 'the log store is PostgreSQL: safetynet keeps no log-store points', {
      hint: 'restore the PostgreSQL cluster that holds the log store (`safetynet restore db` when it is the shop cluster); see docs/disaster-recovery.md',
    });
  }
  return restoreWith(deps, source, 'log store', opts);
}

async function backupWith(
  deps: BackupDeps,
  source: DatabaseSource,
  what: string,
  opts: DbBackupOptions,
): Promise<DbBackupResult> {
  try {
    const r = await source.backup(deps, opts);
    await deps.log.info(
      `${r.kind} ${what} backup ${r.entry.id}: ${formatBytes(r.entry.logicalBytes)} database, ${formatBytes(r.entry.storedBytes)} stored in ${formatDuration(r.durationMs)}`,
      {
        details: {
          point: r.entry.id,
          source: source.type,
          kind: r.kind,
          reason: r.reason,
          time: r.entry.time,
          what,
          databaseBytes: r.entry.logicalBytes,
          storedBytes: r.entry.storedBytes,
          ...r.facts,
          durationMs: r.durationMs,
          set: r.entry.set,
        },
      },
    );
    await sealLogAnchor(deps); // the log chains' heads, outside the log store (src/log/anchor.ts)
    return r;
  } catch (err) {
    if (err instanceof SafetynetError && err.code === 'E_ABORTED') {
      await deps.log.warn(`${what} backup stopped before it finished; no restore point was created`, {
        details: { mode: opts.mode },
      });
      throw err;
    }
    await deps.logger.error(err, {
      category: 'backup',
      message: `${what} backup failed: ${(err as Error).message}`,
      details: { mode: opts.mode, source: source.type, repository: deps.repo.storage.url },
    });
    throw err;
  }
}

/** Restores the shop database (to a file or a data directory) and logs the outcome. */
export async function restoreDatabase(deps: BackupDeps, opts: DbRestoreOptions): Promise<DbRestoreResult> {
  return restoreWith(deps, databaseSource(deps.config), 'database', opts);
}

async function restoreWith(
  deps: BackupDeps,
  source: DatabaseSource,
  what: string,
  opts: DbRestoreOptions,
): Promise<DbRestoreResult> {
  try {
    if (opts.start && !source.capabilities.startable) {
      throw new UsageError(
        'E_NOT_STARTABLE',
        `a ${source.type} restore is a file; there is no server to --start`,
        {
          hint: 'leave out --start and --port; point the shop at the restored file',
        },
      );
    }
    if (opts.check && !source.capabilities.restoreCheckLevels) {
      throw new UsageError('E_USAGE', `--check does not apply to a ${source.type} restore`, {
        hint: `leave --check out: a ${source.type} restore is checked by its own recovery`,
      });
    }
    const r = await source.restore(deps, opts);
    await deps.log.info(
      `${what} restored from point ${r.point.id} to ${r.to} in ${formatDuration(r.durationMs)}`,
      {
        details: {
          point: r.point.id,
          pointTime: r.point.time,
          chain: r.chain,
          to: r.to,
          sizeBytes: r.sizeBytes,
          ...r.facts,
          durationMs: r.durationMs,
          phases: r.phases,
        },
      },
    );
    return r;
  } catch (err) {
    await deps.logger.error(err, {
      category: 'backup',
      // A refused request (existing target, --at out of range) is a warning, not a failure of the system.
      level: isUserMistake(err) ? 'warn' : 'error',
      message: `${what} restore failed: ${(err as Error).message}`,
      details: { to: opts.to, at: opts.at !== undefined ? new Date(opts.at).toISOString() : null },
    });
    throw err;
  }
}

function isUserMistake(err: unknown): boolean {
  return err instanceof SafetynetError && err.exitCode === ExitCode.usage;
}
