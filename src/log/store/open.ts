/**
 * Opening the configured log store, and a lazily-opened handle for the logger's `store` property
 * (so a logger starts even when the store is unavailable: writing falls back to the spool, and
 * reading fails only when something actually reads).
 */
import type { LogStoreConfig } from '../../config/types.js';
import { SafetynetError } from '../../errors.js';
import type { LogEntry, LogFilter, SearchOptions, SearchPage } from '../types.js';
import { PG_CAPABILITIES, PostgresLogStore } from './postgres/store.js';
import { SQLITE_CAPABILITIES, SqliteLogStore } from './sqlite/store.js';
import type {
  AppendOptions,
  AppendResult,
  AppendRow,
  ChainState,
  CountOptions,
  LevelCounts,
  LogStore,
  RawEntry,
  PruneOptions,
  PruneReport,
  StoreCapabilities,
  VerifyReport,
} from './types.js';

export interface OpenStoreOptions {
  busyTimeoutMs?: number;
  now?: () => number;
}

/**
 * Opens the store the configuration names. The only place that knows the store types: a new store
 * needs its own file and a line here. PostgreSQL connects (and migrates) on first use, so opening
 * never blocks; SQLite opens the file at once.
 */
export function openLogStore(config: LogStoreConfig, options: OpenStoreOptions = {}): LogStore {
  switch (config.type) {
    case 'sqlite':
      return SqliteLogStore.open(config.path, options);
    case 'postgres':
      return new PostgresLogStore({
        ...(config.connectionString ? { connectionString: config.connectionString } : {}),
        ...(options.busyTimeoutMs !== undefined ? { timeoutMs: options.busyTimeoutMs } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
    default:
      throw new SafetynetError(
        'E_LOG_STORE_TYPE',
        `logs.store.type "${String(config.type)}" is not supported`,
        {
          hint: 'use logs.store.type "sqlite" or "postgres"',
          exitCode: 2,
        },
      );
  }
}

/** What a store of this configuration can do, without opening it. */
export function storeCapabilities(config: LogStoreConfig): StoreCapabilities {
  return { ...(config.type === 'postgres' ? PG_CAPABILITIES : SQLITE_CAPABILITIES) };
}

/** A LogStore that opens the real one on first use; each method rejects when opening fails. */
export class LazyLogStore implements LogStore {
  private inner: LogStore | undefined;
  private closed = false;

  constructor(
    private readonly opener: () => LogStore,
    readonly kind: string,
    readonly capabilities: StoreCapabilities,
  ) {}

  private async use(): Promise<LogStore> {
    if (this.closed)
      throw new SafetynetError('E_LOG_CLOSED', 'the logger was closed', {
        hint: 'read the store before closing the logger',
      });
    this.inner ??= this.opener();
    return this.inner;
  }

  async append(rows: AppendRow[], options?: AppendOptions): Promise<AppendResult> {
    return (await this.use()).append(rows, options);
  }
  async search(filter: LogFilter, options?: SearchOptions): Promise<SearchPage> {
    return (await this.use()).search(filter, options);
  }
  async countByLevel(filter: LogFilter, options?: CountOptions): Promise<LevelCounts> {
    return (await this.use()).countByLevel(filter, options);
  }
  async get(id: string): Promise<LogEntry | undefined> {
    return (await this.use()).get(id);
  }
  async verifyChain(): Promise<VerifyReport> {
    return (await this.use()).verifyChain();
  }
  async prune(options: PruneOptions): Promise<PruneReport> {
    return (await this.use()).prune(options);
  }
  async categories(): Promise<string[]> {
    return (await this.use()).categories();
  }
  async spoolOffset(file: string): Promise<number> {
    return (await this.use()).spoolOffset(file);
  }
  async forgetSpool(file: string): Promise<void> {
    return (await this.use()).forgetSpool(file);
  }
  async maintain(budgetRows: number): Promise<boolean> {
    return (await this.use()).maintain(budgetRows);
  }
  indexBacklog(): number {
    return this.inner?.indexBacklog() ?? 0;
  }
  async readRaw(afterId: number, limit: number): Promise<RawEntry[]> {
    return (await this.use()).readRaw(afterId, limit);
  }
  async chainState(): Promise<ChainState> {
    return (await this.use()).chainState();
  }
  async writeRaw(rows: RawEntry[], state?: ChainState): Promise<void> {
    return (await this.use()).writeRaw(rows, state);
  }
  async close(): Promise<void> {
    this.closed = true;
    const inner = this.inner;
    this.inner = undefined;
    await inner?.close();
  }
}
