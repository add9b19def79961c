/**
 * Opening the configured log store, and a lazily-opened handle for the logger's `store` property
 * (so a logger starts even when the store is unavailable: writing falls back to the spool, and
 * reading fails only when something actually reads).
 */
import type { LogStoreConfig } from '../../config/types.js';
import { SafetynetError } from '../../errors.js';
import type { Level, LogEntry, LogFilter, SearchOptions, SearchPage } from '../types.js';
import { SqliteLogStore } from './sqlite-store.js';
import type {
  AppendOptions,
  AppendResult,
  AppendRow,
  LogStore,
  PruneOptions,
  PruneReport,
  StoreCapabilities,
  VerifyReport,
} from './types.js';

export interface OpenStoreOptions {
  busyTimeoutMs?: number;
  now?: () => number;
}

/** Opens the store the configuration names (SQLite today; PostgreSQL arrives in a later release). */
export function openLogStore(config: LogStoreConfig, options: OpenStoreOptions = {}): LogStore {
  if (config.type !== 'sqlite') {
    throw new SafetynetError(
      'E_LOG_STORE_TYPE',
      `logs.store.type "${config.type}" is not supported by this version`,
      {
        hint: 'use logs.store.type "sqlite" (the PostgreSQL log store is not available yet)',
        exitCode: 2,
      },
    );
  }
  return SqliteLogStore.open(config.path, options);
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
  async countByLevel(filter: LogFilter): Promise<Record<Level, number>> {
    return (await this.use()).countByLevel(filter);
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
  async close(): Promise<void> {
    this.closed = true;
    const inner = this.inner;
    this.inner = undefined;
    await inner?.close();
  }
}
