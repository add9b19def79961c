/**
 * The `safetynet` library: what the shop's backend imports.
 *
 *   import { createLogger, loadConfig } from 'safetynet';
 *   const log = await createLogger({ config: loadConfig() });
 *
 * Backups from code (a deploy hook, a custom scheduler) use the same functions as the CLI:
 *
 *   const deps = await backupDepsFromConfig(loadConfig());
 *   await backupAll(deps);
 *   const status = await buildStatus(deps);
 *   await deps.repo.close(); await deps.logger.close();
 *
 * Run backups in a process that holds no connection of its own to the shop's SQLite database
 * (closing a file drops a process's POSIX locks; see src/backup/sources/sqlite/snapshot.ts).
 */
export {
  createLogger,
  loggerOptionsFromConfig,
  openLogStore,
  SqliteLogStore,
  PostgresLogStore,
  ThreadedLogStore,
  retentionCutoffs,
  Redactor,
  DEFAULT_REDACT_KEYS,
  REDACTED,
  maskCardNumbers,
  luhnValid,
  escapeControl,
  PINO_LEVEL,
  LEVELS,
  LEVEL_RANK,
  isLevel,
  isDurable,
} from './log/index.js';
export type {
  Logger,
  LoggerOptions,
  CreateLoggerOptions,
  CategoryLogger,
  ErrorLogger,
  WebhookLogger,
  WebhookCapture,
  ErrorLogOptions,
  ChildBindings,
  LogOptions,
  ProcessHandlerOptions,
  Level,
  LogEntry,
  LogFilter,
  SearchOptions,
  SearchPage,
  LogStore,
  AppendRow,
  AppendResult,
  PruneOptions,
  PruneReport,
  VerifyReport,
  ChainBreak,
  StoreCapabilities,
  RetentionPlan,
  FlushResult,
  CloseReport,
  UnsavedStatus,
} from './log/index.js';
export { loadConfig, resolveConfig, BUILTIN_CATEGORIES } from './config/index.js';
export type { SafetynetConfig, LogsConfig } from './config/index.js';
export {
  SafetynetError,
  ConfigError,
  UsageError,
  IntegrityError,
  StorageError,
  LockError,
  ExitCode,
  hasCode,
} from './errors.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { VERSION } from './version.js';
export { backupDepsFromConfig, openRepository, type BackupDeps } from './backup/context.js';
export { backupAll, type BackupAllResult } from './backup/backup-all.js';
export { backupDatabase, restoreDatabase } from './backup/database.js';
export { backupFiles } from './backup/sources/files/backup.js';
export { restoreFiles } from './backup/sources/files/restore.js';
export { verifyRepository } from './backup/verify.js';
export { pruneRepository } from './backup/prune.js';
export { runRestoreTest } from './backup/restore-test.js';
export { runDrill, drillMarkdown } from './backup/drill.js';
export { buildStatus, type StatusReport } from './backup/status.js';
export { startServe, type RunningServe } from './server/serve.js';
