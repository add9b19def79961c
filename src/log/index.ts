/**
 * The logging library: `createLogger()` and the types around it.
 *
 *   const log = await createLogger({ config: loadConfig() });
 *   log.order.info('order placed', { orderId: 1042, details: { total: 59.9 } });
 *   await log.payment.warn('card declined', { orderId: 1042 });   // resolves once durable
 *   log.error(err, { orderId: 1042 });
 *   log.webhook({ provider: 'stripe', eventId, headers: req.headers, rawBody });
 */
import { BUILTIN_CATEGORIES } from '../config/schema.js';
import type { LogStoreConfig, SafetynetConfig } from '../config/types.js';
import { systemClock, type Clock } from '../clock.js';
import { SafetynetError } from '../errors.js';
import { CATEGORY_PATTERN } from './entry-check.js';
import { SafetynetLogger, type LoggerCore } from './logger.js';
import { Redactor } from './redact.js';
import {
  DEFAULT_QUEUE_LIMITS,
  InlineSink,
  WorkerSink,
  type QueueLimits,
  type Sink,
  type SinkOptions,
} from './sink.js';
import { processToken } from './spool.js';
import { LazyLogStore, openLogStore, storeCapabilities } from './store/open.js';
import { ThreadedLogStore } from './store/threaded.js';
import type { LogStore } from './store/types.js';
import type { CloseReport, Logger, ProcessHandlerOptions } from './types.js';

export interface LoggerOptions {
  /** The SQLite log store file (ignored when `store` is given). */
  storePath: string;
  /** The log store (default: SQLite at `storePath`); e.g. `{ type: 'postgres', connectionString }`. */
  store?: LogStoreConfig;
  /** Folder for the spool (entries wait there while the store is unavailable). */
  spoolDir: string;
  /** Custom categories on top of the built-in ones. */
  categories?: string[];
  /** Extra keys to redact on top of the built-in list. */
  redactKeys?: string[];
  /** Mirror each entry as a pino-style JSON line on stdout (default false). */
  stdout?: boolean;
  /** Serialised details above this size are truncated with a marker (default 65536). */
  maxDetailsBytes?: number;
  /** Time source for entry timestamps (default: the system clock). */
  clock?: Clock;
  /**
   * Where SQLite runs: 'thread' (default) in a worker thread, so the event loop never waits for a
   * commit; 'inline' on the calling thread (short-lived CLI processes).
   */
  writer?: 'thread' | 'inline';
  /** Time limit of one read through `log.store` (search, count, export page), ms (default 30000). */
  readTimeoutMs?: number;
  /** How long a write waits for another process's lock before spooling, ms (default 5000). */
  busyTimeoutMs?: number;
  /** First delay before retrying an unavailable store, ms (default 1000, doubling to 30 s). */
  retryMs?: number;
  /** Flush synchronously when the process exits normally or via process.exit() (default true). */
  flushOnExit?: boolean;
  /** Also install signal and uncaught-exception handlers (default false; see installProcessHandlers). */
  processHandlers?: boolean | ProcessHandlerOptions;
  /** Where outage/recovery notices go (default: stderr). */
  notify?: (text: string) => void;
  /**
   * Entries held in memory, not yet durable, before further batches go to an overflow file on
   * disk (stored from there in order; dropped only when that file cannot be written either:
   * counted, given to `lastResort`, reported in a `system` entry). Default 20,000.
   */
  maxQueueEntries?: number;
  /** The same cap in bytes of message, details and stack text (default 32 MiB). */
  maxQueueBytes?: number;
  /**
   * An awaited write settles after this long even when the entry is not durable, with
   * `unsaved:timeout` (never a rejection); `flush()` likewise, with `durable: false`. Default 10 s.
   */
  writeTimeoutMs?: number;
  /** `close()` returns within about this long and reports what it could not keep (default 10 s). */
  closeTimeoutMs?: number;
  /** Receives each entry nothing durable took, as one NDJSON line (default: a line on stderr). */
  lastResort?: (line: string) => void;
}

export type CreateLoggerOptions =
  LoggerOptions | ({ config: SafetynetConfig } & Partial<Omit<LoggerOptions, 'storePath' | 'spoolDir'>>);

/** LoggerOptions from a loaded configuration (explicit options win). */
export function loggerOptionsFromConfig(
  config: SafetynetConfig,
  overrides: Partial<Omit<LoggerOptions, 'storePath' | 'spoolDir'>> = {},
): LoggerOptions {
  return {
    storePath: config.logs.store.path,
    store: config.logs.store,
    spoolDir: config.logs.spool,
    categories: config.logs.categories,
    redactKeys: config.logs.redactKeys,
    stdout: config.logs.stdout,
    maxDetailsBytes: config.logs.maxDetailsBytes,
    ...overrides,
  };
}

/**
 * Creates a logger writing to the configured store. Resolves once the writer is running; never
 * fails because the store is unavailable (entries are spooled until it is back).
 */
export async function createLogger(options: CreateLoggerOptions): Promise<Logger> {
  const o: LoggerOptions =
    'config' in options ? loggerOptionsFromConfig(options.config, withoutConfig(options)) : options;
  for (const name of o.categories ?? []) {
    // A name the stores would refuse must fail here, not entry by entry later.
    if (typeof name !== 'string' || !CATEGORY_PATTERN.test(name))
      throw new SafetynetError('E_LOG_CATEGORY', `log category name "${String(name)}" is not allowed`, {
        hint: `category names match ${CATEGORY_PATTERN.source} (lower-case letter first, at most 32 characters)`,
        exitCode: 2,
      });
  }
  const notify = o.notify ?? ((text: string) => process.stderr.write(text + '\n'));
  const storeConfig: LogStoreConfig = o.store ?? { type: 'sqlite', path: o.storePath };
  const sinkOptions: SinkOptions = {
    store: storeConfig,
    spoolDir: o.spoolDir,
    busyTimeoutMs: o.busyTimeoutMs ?? 5000,
    retryMs: o.retryMs ?? 1000,
    stdout: o.stdout ?? false,
    processToken: processToken(),
    notify,
    limits: queueLimits(o),
    lastResort: o.lastResort ?? ((line: string) => process.stderr.write(line + '\n')),
  };
  let sink: Sink;
  if (o.writer === 'inline') {
    sink = new InlineSink(sinkOptions);
  } else {
    try {
      sink = await WorkerSink.start(sinkOptions);
    } catch (err) {
      notify(
        `safetynet: cannot start the log writer thread (${err instanceof Error ? err.message : String(err)}); writing inline`,
      );
      sink = new InlineSink(sinkOptions);
    }
  }
  // Reads through `log.store` (the admin panel's searches, counts and exports) run in reader
  // threads with a time limit, so they never block the app's event loop; short-lived CLI
  // processes (writer 'inline') read on their own thread.
  const store: LogStore =
    o.writer === 'inline'
      ? new LazyLogStore(
          () => openLogStore(storeConfig, { busyTimeoutMs: o.busyTimeoutMs ?? 5000 }),
          storeConfig.type,
          storeCapabilities(storeConfig),
        )
      : new ThreadedLogStore(storeConfig, {
          busyTimeoutMs: o.busyTimeoutMs ?? 5000,
          ...(o.readTimeoutMs !== undefined ? { timeoutMs: o.readTimeoutMs } : {}),
        });
  const exitHook = (): void => {
    sink.flushSync(5000);
  };
  if (o.flushOnExit !== false) process.on('exit', exitHook);
  let closing: Promise<CloseReport> | undefined;
  const core: LoggerCore = {
    categories: new Set([...BUILTIN_CATEGORIES, ...(o.categories ?? [])]),
    redactor: new Redactor(o.redactKeys ?? []),
    maxDetailsBytes: o.maxDetailsBytes ?? 65536,
    clock: o.clock ?? systemClock,
    sink,
    store,
    notify,
    handlers: new Set(),
    onClose: () =>
      (closing ??= (async () => {
        for (const remove of [...core.handlers]) remove();
        const report = await sink.close();
        process.off('exit', exitHook);
        await store.close();
        return report;
      })()),
  };
  const logger = new SafetynetLogger(core);
  if (o.processHandlers) logger.installProcessHandlers(o.processHandlers === true ? {} : o.processHandlers);
  return logger;
}

/** The queue limits from the options, each a positive whole number (bad values fall back). */
function queueLimits(o: LoggerOptions): QueueLimits {
  const pick = (v: number | undefined, d: number): number =>
    v !== undefined && Number.isFinite(v) && v > 0 ? Math.floor(v) : d;
  return {
    maxEntries: pick(o.maxQueueEntries, DEFAULT_QUEUE_LIMITS.maxEntries),
    maxBytes: pick(o.maxQueueBytes, DEFAULT_QUEUE_LIMITS.maxBytes),
    writeTimeoutMs: pick(o.writeTimeoutMs, DEFAULT_QUEUE_LIMITS.writeTimeoutMs),
    closeTimeoutMs: pick(o.closeTimeoutMs, DEFAULT_QUEUE_LIMITS.closeTimeoutMs),
  };
}

function withoutConfig(
  options: { config: SafetynetConfig } & Partial<Omit<LoggerOptions, 'storePath' | 'spoolDir'>>,
): Partial<Omit<LoggerOptions, 'storePath' | 'spoolDir'>> {
  const { config: _config, ...rest } = options;
  return rest;
}

export * from './types.js';
export type * from './store/types.js';
export { SqliteLogStore } from './store/sqlite/store.js';
export { PostgresLogStore } from './store/postgres/store.js';
export { openLogStore, LazyLogStore } from './store/open.js';
export { ThreadedLogStore } from './store/threaded.js';
export { retentionCutoffs, type RetentionPlan } from './retention.js';
export { Redactor, DEFAULT_REDACT_KEYS, maskCardNumbers, luhnValid, REDACTED } from './redact.js';
export { escapeControl } from './text.js';
export { PINO_LEVEL } from './stdout-mirror.js';
