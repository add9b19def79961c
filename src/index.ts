/**
 * The `safetynet` library: what the shop's backend imports.
 *
 *   import { createLogger, loadConfig } from 'safetynet';
 *   const log = await createLogger({ config: loadConfig() });
 *
 * Other parts (backups, the scheduler, the admin panel) add their public entry points here.
 */
export {
  createLogger,
  loggerOptionsFromConfig,
  openLogStore,
  SqliteLogStore,
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
