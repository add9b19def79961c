/**
 * A LogStore whose calls run in worker threads, each with its own connection to the real store
 * (opened from the same configuration), so a slow search or count (seconds for a common word on
 * millions of entries) never blocks the calling thread's event loop: serve's scheduler and every
 * other request go on. Each call has a time limit; past it the call rejects with
 * E_LOG_READ_TIMEOUT and its thread is replaced (SQLite cannot be interrupted mid-query, so the old
 * thread is terminated and a fresh one serves the next call). Memory stays bounded: at most
 * `threads` busy threads, and callers beyond them wait in a queue of bounded length.
 */
import { Worker } from 'node:worker_threads';
import { workerUrl } from '../../util/worker-url.js';
import type { LogStoreConfig } from '../../config/types.js';
import { SafetynetError, StorageError, UsageError, ConfigError, IntegrityError } from '../../errors.js';
import type { LogEntry, LogFilter, SearchOptions, SearchPage } from '../types.js';
import { storeCapabilities } from './open.js';
import type {
  AppendOptions,
  AppendResult,
  AppendRow,
  ChainState,
  CountOptions,
  LevelCounts,
  LogStore,
  PruneOptions,
  PruneReport,
  RawEntry,
  StoreCapabilities,
  VerifyReport,
} from './types.js';

export interface ThreadedStoreOptions {
  /** Threads (each with its own store connection), default 2. */
  threads?: number;
  /** Time limit per call, ms (default 30 s; verify and prune get 10× as long). */
  timeoutMs?: number;
  /** Calls waiting for a thread beyond this are refused at once (default 100). */
  maxQueue?: number;
  /** Passed to the store (lock wait, connection timeout). */
  busyTimeoutMs?: number;
}

/** What a reader thread is asked to do: a LogStore method and its arguments. */
export interface StoreCall {
  id: number;
  method: string;
  args: unknown[];
}

export type StoreReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

export interface WireError {
  kind: string;
  code?: string;
  message: string;
  hint?: string;
  exitCode?: number;
  transient?: boolean;
}

interface Pending {
  call: StoreCall;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timeoutMs: number;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
  timer: NodeJS.Timeout | undefined;
}

const LONG_METHODS = new Set(['verifyChain', 'prune']);

export class ThreadedLogStore implements LogStore {
  readonly kind: string;
  readonly capabilities: StoreCapabilities;
  private readonly slots: (Slot | undefined)[];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;

  constructor(
    private readonly config: LogStoreConfig,
    private readonly options: ThreadedStoreOptions = {},
  ) {
    this.kind = config.type;
    this.capabilities = storeCapabilities(config);
    this.slots = new Array<Slot | undefined>(Math.max(1, options.threads ?? 2)).fill(undefined);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxQueue = options.maxQueue ?? 100;
  }

  private call<T>(method: string, args: unknown[]): Promise<T> {
    if (this.closed)
      return Promise.reject(
        new SafetynetError('E_LOG_CLOSED', 'the log store was closed', { hint: 'read it before closing' }),
      );
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        new StorageError('E_LOG_READ_BUSY', `too many log store reads are waiting (${this.queue.length})`, {
          hint: 'try again in a moment',
          transient: true,
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        call: { id: this.nextId++, method, args },
        resolve: resolve as (v: unknown) => void,
        reject,
        timeoutMs: LONG_METHODS.has(method) ? this.timeoutMs * 10 : this.timeoutMs,
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      const slot = (this.slots[i] ??= this.spawn(i));
      if (slot.busy) continue;
      const p = this.queue.shift()!;
      slot.busy = p;
      slot.timer = setTimeout(() => this.timedOut(i, p), p.timeoutMs);
      slot.worker.ref();
      slot.worker.postMessage(p.call);
    }
  }

  private spawn(i: number): Slot {
    const worker = spawnReader({ store: this.config, busyTimeoutMs: this.options.busyTimeoutMs ?? 5000 });
    const slot: Slot = { worker, busy: undefined, timer: undefined };
    worker.unref();
    worker.on('message', (reply: StoreReply) => {
      const p = slot.busy;
      if (!p || p.call.id !== reply.id) return;
      this.settle(i, slot);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(fromWire(reply.error));
      this.dispatch();
    });
    const fail = (err: Error) => {
      if (this.slots[i] !== slot) return;
      this.slots[i] = undefined;
      const p = slot.busy;
      this.settle(i, slot);
      p?.reject(
        new StorageError('E_LOG_STORE', `the log reader thread failed: ${err.message}`, {
          hint: 'retry; if it keeps failing, check the log store with `safetynet logs verify`',
          cause: err,
          transient: true,
        }),
      );
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    return slot;
  }

  private settle(i: number, slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.busy = undefined;
    if (this.slots[i] === slot) slot.worker.unref();
  }

  private timedOut(i: number, p: Pending): void {
    const slot = this.slots[i];
    if (!slot || slot.busy !== p) return;
    // The thread may be stuck in a query: replace it.
    this.slots[i] = undefined;
    this.settle(i, slot);
    void slot.worker.terminate();
    p.reject(
      new StorageError(
        'E_LOG_READ_TIMEOUT',
        `the log store did not answer ${p.call.method} within ${p.timeoutMs} ms`,
        {
          hint: 'narrow the search (a category, a shorter time range), or try again when the store is less busy',
          transient: true,
        },
      ),
    );
    this.dispatch();
  }

  append(rows: AppendRow[], options?: AppendOptions): Promise<AppendResult> {
    return this.call('append', [rows, options]);
  }
  search(filter: LogFilter, options?: SearchOptions): Promise<SearchPage> {
    return this.call('search', [filter, options]);
  }
  /** Runs in a reader thread under the time limit, so even exact counts never block the caller. */
  countByLevel(filter: LogFilter, options?: CountOptions): Promise<LevelCounts> {
    return this.call('countByLevel', options ? [filter, options] : [filter]);
  }
  get(id: string): Promise<LogEntry | undefined> {
    return this.call('get', [id]);
  }
  verifyChain(): Promise<VerifyReport> {
    return this.call('verifyChain', []);
  }
  prune(options: PruneOptions): Promise<PruneReport> {
    return this.call('prune', [options]);
  }
  categories(): Promise<string[]> {
    return this.call('categories', []);
  }
  spoolOffset(file: string): Promise<number> {
    return this.call('spoolOffset', [file]);
  }
  forgetSpool(file: string): Promise<void> {
    return this.call('forgetSpool', [file]);
  }
  maintain(budgetRows: number): Promise<boolean> {
    return this.call('maintain', [budgetRows]);
  }
  /** Not known without asking a thread; the writer (which needs it) never uses this store. */
  indexBacklog(): number {
    return 0;
  }
  readRaw(afterId: number, limit: number): Promise<RawEntry[]> {
    return this.call('readRaw', [afterId, limit]);
  }
  chainState(): Promise<ChainState> {
    return this.call('chainState', []);
  }
  writeRaw(rows: RawEntry[], state?: ChainState): Promise<void> {
    return this.call('writeRaw', [rows, state]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0))
      p.reject(new SafetynetError('E_LOG_CLOSED', 'the log store was closed'));
    const slots = this.slots.splice(0).filter((s): s is Slot => s !== undefined);
    await Promise.all(
      slots.map(async (s) => {
        if (s.timer) clearTimeout(s.timer);
        s.busy?.reject(new SafetynetError('E_LOG_CLOSED', 'the log store was closed'));
        s.busy = undefined;
        s.worker.postMessage({ id: 0, method: 'close', args: [] });
        // A thread that does not finish closing in time is stopped.
        const t = setTimeout(() => void s.worker.terminate(), 5000);
        await new Promise<void>((r) => s.worker.once('exit', () => r()));
        clearTimeout(t);
      }),
    );
  }
}

/** An error as plain data, to cross from the reader thread. */
export function toWire(err: unknown): WireError {
  if (err instanceof SafetynetError) {
    return {
      kind: err.constructor.name,
      code: err.code,
      message: err.message,
      ...(err.hint !== undefined ? { hint: err.hint } : {}),
      exitCode: err.exitCode,
      ...(err instanceof StorageError ? { transient: err.transient } : {}),
    };
  }
  return { kind: 'Error', message: err instanceof Error ? err.message : String(err) };
}

/** The error again, as the class the caller can catch (UsageError stays a UsageError …). */
function fromWire(e: WireError): Error {
  if (!e.code) return new StorageError('E_LOG_STORE', e.message, { transient: false });
  const options = {
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
    ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
  };
  switch (e.kind) {
    case 'UsageError':
      return new UsageError(e.code, e.message, options);
    case 'ConfigError':
      return new ConfigError(e.code, e.message, options);
    case 'IntegrityError':
      return new IntegrityError(e.code, e.message, options);
    case 'StorageError':
      return new StorageError(e.code, e.message, { ...options, transient: e.transient ?? false });
    default:
      return new SafetynetError(e.code, e.message, options);
  }
}

/** Starts a reader thread (from the .ts sources under a TypeScript runner: see worker-url.ts). */
function spawnReader(data: { store: LogStoreConfig; busyTimeoutMs: number }): Worker {
  return new Worker(workerUrl(import.meta.url, 'reader-worker'), { workerData: data });
}
