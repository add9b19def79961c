/**
 * Database backup and restore as the CLI and the scheduler call them: picks the source for
 * `database.type` and writes the `backup`-category log entries (success with the figures, failure
 * with the cause and stack).
 */
import { ConfigError, ExitCode, SafetynetError } from '../errors.js';
import type { BackupDeps } from './context.js';
import { sealLogAnchor } from './log-anchor.js';
import { backupSqlite, type DbBackupOptions, type DbBackupResult } from './sources/sqlite/backup.js';
import { restoreSqlite, type DbRestoreOptions, type DbRestoreResult } from './sources/sqlite/restore.js';
import { formatBytes } from '../util/format.js';
import { formatDuration } from '../util/time.js';

function requireSqlite(deps: BackupDeps): void {
  if (deps.config.database.type !== 'sqlite') {
    throw new ConfigError(
      'E_DB_TYPE_UNSUPPORTED',
      `database.type "${deps.config.database.type}" backups are not available in this version`,
      {
        hint: 'this version backs up SQLite databases (database.type "sqlite"); PostgreSQL support is planned',
      },
    );
  }
}

/** Backs up the shop database and logs the outcome. */
export async function backupDatabase(deps: BackupDeps, opts: DbBackupOptions): Promise<DbBackupResult> {
  try {
    requireSqlite(deps);
    const r = await backupSqlite(deps, opts);
    await deps.log.info(
      `${r.kind} database backup ${r.entry.id}: ${formatBytes(r.entry.logicalBytes)} database, ${formatBytes(r.entry.storedBytes)} stored in ${formatDuration(r.durationMs)}`,
      {
        details: {
          point: r.entry.id,
          kind: r.kind,
          reason: r.reason,
          time: r.entry.time,
          databaseBytes: r.entry.logicalBytes,
          storedBytes: r.entry.storedBytes,
          changedPages: r.changedPages,
          pageCount: r.pageCount,
          snapshotMethod: r.snapshotMethod,
          snapshotHeldMs: r.snapshotHeldMs,
          durationMs: r.durationMs,
          set: r.entry.set,
        },
      },
    );
    await sealLogAnchor(deps); // the log chains' heads, outside the log store (src/log/anchor.ts)
    return r;
  } catch (err) {
    if (err instanceof SafetynetError && err.code === 'E_ABORTED') {
      await deps.log.warn(`database backup stopped before it finished; no restore point was created`, {
        details: { mode: opts.mode },
      });
      throw err;
    }
    await deps.logger.error(err, {
      category: 'backup',
      message: `database backup failed: ${(err as Error).message}`,
      details: { mode: opts.mode, database: deps.config.database.path, repository: deps.repo.storage.url },
    });
    throw err;
  }
}

/** Restores the shop database (to a path) and logs the outcome. */
export async function restoreDatabase(deps: BackupDeps, opts: DbRestoreOptions): Promise<DbRestoreResult> {
  try {
    requireSqlite(deps);
    const r = await restoreSqlite(deps, opts);
    await deps.log.info(
      `database restored from point ${r.point.id} to ${r.to} in ${formatDuration(r.durationMs)}`,
      {
        details: {
          point: r.point.id,
          pointTime: r.point.time,
          chain: r.chain,
          to: r.to,
          sizeBytes: r.sizeBytes,
          sha256: r.sha256,
          integrity: r.integrity,
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
      message: `database restore failed: ${(err as Error).message}`,
      details: { to: opts.to, at: opts.at !== undefined ? new Date(opts.at).toISOString() : null },
    });
    throw err;
  }
}

function isUserMistake(err: unknown): boolean {
  return err instanceof SafetynetError && err.exitCode === ExitCode.usage;
}
