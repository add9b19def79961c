/**
 * The part of the logger that owns the store connection: writes batches durably, falls back to
 * the spool when the store cannot be written, replays the spool when it can again, and runs the
 * store's background upkeep (e.g. the SQLite full-text index) when there is nothing else to do.
 *
 * It talks to the store only through the LogStore contract (openLogStore picks the store from
 * its configuration), so SQLite, PostgreSQL or a third store share this one writer: batching and
 * group commit happen in the caller (the writer thread drains every batch that arrived into one
 * append), acknowledgement means the append's promise resolved (committed, durable).
 *
 * It runs either in the logger's worker thread (default: the app's event loop never waits for
 * the store) or on the calling thread (CLI). With SQLite the append does its work synchronously
 * inside the call, so an inline writer has committed before the first await.
 */
import type { LogStoreConfig } from '../config/types.js';
import { Spool } from './spool.js';
import { mirrorLine } from './stdout-mirror.js';
import { openLogStore } from './store/open.js';
import {
  SpoolMarkConflict,
  type AppendOptions,
  type AppendResult,
  type AppendRow,
  type BatchMark,
  type ChainAhead,
  type LogStore,
} from './store/types.js';

export interface WriterCoreOptions {
  /** The store to write (SQLite file or PostgreSQL). */
  store: LogStoreConfig;
  spoolDir: string;
  /** How long an append waits for another process's lock (or the server) before spooling, ms. */
  busyTimeoutMs: number;
  /** First wait before retrying an unavailable store, ms (doubles up to 30 s). */
  retryMs?: number;
  /** Writes stdout mirror lines, when mirroring is on. */
  mirror?: (text: string) => void;
  /** Tells the operator about outages and recoveries (stderr). */
  notify: (message: string) => void;
  /** The process token (see spool.ts), passed from the main thread to a worker. */
  processToken?: string;
}

/** The chain state an append reported (AppendResult.chain), passed on to the chain helper. */
export type ChainReport = NonNullable<AppendResult['chain']>;

export type WriteOutcome =
  | { kind: 'store'; firstId: number; chain?: ChainReport }
  | { kind: 'spool'; file: string; firstLine: number }
  | { kind: 'failed'; error: string };

/** What became of overflow records: stored, already stored by another writer, or not yet. */
export type OverflowOutcome =
  | { kind: 'store'; firstId: number; chain?: ChainReport }
  | { kind: 'consumed' }
  | { kind: 'failed'; error: string };

const REPLAY_ROWS = 2000;
const MAX_RETRY_MS = 30_000;

export class WriterCore {
  private store: LogStore | null = null;
  private readonly spool: Spool;
  private readonly baseRetryMs: number;
  private retryMs: number;
  private nextAttempt = 0;
  /** True while this process's spool file (or a dead process's) still has entries to replay. */
  private spoolPending = true;
  private down: string | null = null;
  private readonly where: string;
  /** Set when the store file was deleted or replaced under us: recorded in the store once it is back. */
  private incident: { message: string; at: number } | null = null;

  constructor(private readonly options: WriterCoreOptions) {
    this.spool = new Spool(options.spoolDir, options.processToken ? { token: options.processToken } : {});
    this.baseRetryMs = options.retryMs ?? 1000;
    this.retryMs = this.baseRetryMs;
    this.where = describeStore(options.store);
  }

  /** Why the spool last refused entries; null once it took some again. */
  private spoolRefused: string | null = null;
  /** The BatchMark file of the last direct append that committed: forgotten by the next one. */
  private lastBatchMark: string | undefined;

  /** True while the store is reachable and nothing waits in the spool. */
  get healthy(): boolean {
    return this.store !== null && !this.spoolPending;
  }

  /** Opens the store and replays leftovers of earlier runs; failures only switch to spooling. */
  async start(): Promise<void> {
    await this.recover(true);
  }

  /**
   * Stores `rows` durably: in the store when possible, otherwise in the spool. `ahead`: their
   * chain links computed ahead (chain-ahead.ts), for the store to use where they fit.
   */
  async write(rows: AppendRow[], ahead?: ChainAhead): Promise<WriteOutcome> {
    if (!this.healthy) await this.recover(false);
    let unsure: string | undefined;
    if (this.healthy) {
      const store = this.store!;
      const batch = store.capabilities.unsureCommits ? this.nextBatchMark() : undefined;
      try {
        const r = await store.append(rows, {
          ...appendOptions(ahead),
          ...(batch ? { batchMark: batch } : {}),
        });
        if (batch) this.lastBatchMark = batch.file;
        this.mirror(rows, (i) => String(r.firstId + i));
        return r.chain
          ? { kind: 'store', firstId: r.firstId, chain: r.chain }
          : { kind: 'store', firstId: r.firstId };
      } catch (err) {
        this.markDown(err);
        unsure = batch?.file;
      }
    }
    // The spool refused too (disk full): try it again only when the store's next retry is due,
    // so a writer holding entries does not encode them anew for every attempt.
    if (this.spoolRefused !== null && !unsure && Date.now() < this.nextAttempt)
      return { kind: 'failed', error: this.spoolRefused };
    try {
      // A batch the store may have committed goes to the file its mark names: replay stores it
      // only if the mark is not there (it never went in). (Should that file fail too, the batch
      // is retried later under a new mark: stored twice if the lost COMMIT had gone in.)
      const s = unsure ? this.spool.writeComplete(rows, unsure) : this.spool.append(rows);
      this.spoolRefused = null;
      this.spoolPending = true;
      this.mirror(rows, (i) => `spool:${s.file}:${s.firstLine + i}`);
      return { kind: 'spool', file: s.file, firstLine: s.firstLine };
    } catch (err) {
      const msg = errText(err);
      this.spoolRefused = msg;
      this.options.notify(
        `safetynet: cannot write the log spool in ${this.options.spoolDir} either (${msg}); keeping entries in memory`,
      );
      return { kind: 'failed', error: msg };
    }
  }

  /** A fresh BatchMark, forgetting the previous committed one's. */
  private nextBatchMark(): BatchMark {
    const file = this.spool.completeName();
    return this.lastBatchMark ? { file, forget: this.lastBatchMark } : { file };
  }

  /**
   * Stores the rows of overflow file `file`, bytes `[from, to)`, committing the file's replay mark
   * with them (a crash never stores them twice). They are durable in the file already, so when
   * the store cannot take them they are not spooled: the caller keeps them and retries.
   */
  async writeOverflow(
    file: string,
    from: number,
    to: number,
    rows: AppendRow[],
    ahead?: ChainAhead,
  ): Promise<OverflowOutcome> {
    if (!this.healthy) await this.recover(false);
    if (!this.healthy) return { kind: 'failed', error: this.down ?? 'the log store is not open' };
    const store = this.store!;
    try {
      let mark = from;
      for (;;) {
        try {
          const r = await store.append(rows, {
            ...appendOptions(ahead),
            spoolMark: { file, from: mark, to },
          });
          this.mirror(rows, (i) => String(r.firstId + i));
          return r.chain
            ? { kind: 'store', firstId: r.firstId, chain: r.chain }
            : { kind: 'store', firstId: r.firstId };
        } catch (err) {
          if (!(err instanceof SpoolMarkConflict)) throw err;
          // The file's mark is elsewhere: at or past `to` these records are stored already (a
          // restarted writer thread resending them); before `from`, records in between could not
          // be read back, and these are stored from where the mark is.
          const at = await store.spoolOffset(file);
          if (at >= to) return { kind: 'consumed' };
          if (at === mark) throw err;
          mark = at;
        }
      }
    } catch (err) {
      this.markDown(err);
      return { kind: 'failed', error: errText(err) };
    }
  }

  /**
   * An overflow file whose records are all stored: deleted first, then its replay mark (the other
   * order could let a crash in between replay the file from its start again).
   */
  async finishOverflow(file: string): Promise<void> {
    this.spool.remove(file);
    try {
      if (this.store) await this.store.forgetSpool(file);
    } catch {
      // a mark left behind names a file that no longer exists: harmless
    }
  }

  /**
   * Background work between writes: retries the store and replays the spool when due, otherwise
   * a slice of the store's upkeep. Resolves true when more work remains.
   */
  async idle(): Promise<boolean> {
    if (!this.healthy) {
      await this.recover(false);
      return false;
    }
    try {
      return await this.store!.maintain(1000);
    } catch (err) {
      this.markDown(err);
      return false;
    }
  }

  /** Committed entries not yet in the text index (0 when the store is down or indexes on commit). */
  indexBacklog(): number {
    try {
      return this.store?.indexBacklog() ?? 0;
    } catch {
      return 0;
    }
  }

  /** Milliseconds until the next recovery attempt is due (0 when healthy or due now). */
  retryDelay(now = Date.now()): number {
    return this.healthy ? 0 : Math.max(0, this.nextAttempt - now);
  }

  async close(): Promise<void> {
    // One last try to hand spooled entries to the store (bounded by the store's own timeouts), so
    // a short outage does not leave them waiting for the next process.
    if (!this.healthy) await this.recover(true);
    const store = this.store;
    this.store = null;
    if (store) {
      if (this.lastBatchMark) await store.forgetSpool(this.lastBatchMark).catch(() => {});
      this.lastBatchMark = undefined;
      try {
        // Leave the text index caught up for the next reader (bounded: closing must stay quick;
        // searches cover a remaining tail and the next writer finishes the job).
        if (!this.spoolPending) await store.maintain(100_000);
      } catch {
        // derived data; the next writer catches up
      }
      await store.close().catch(() => {});
    }
    this.spool.close();
  }

  private async recover(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now < this.nextAttempt) return;
    try {
      this.store ??= openLogStore(this.options.store, { busyTimeoutMs: this.options.busyTimeoutMs });
      const replayed = await this.replay();
      if (this.incident) await this.recordIncident(this.store);
      this.spoolPending = false;
      this.retryMs = this.baseRetryMs;
      if (this.down !== null || replayed > 0) {
        this.options.notify(
          `safetynet: log store ${this.where} is writable again` +
            (replayed > 0 ? `; replayed ${replayed} spooled entries` : ''),
        );
      }
      this.down = null;
    } catch (err) {
      this.markDown(err);
    }
  }

  /** Replays every spool file this process may replay, oldest first. Returns entries replayed. */
  private async replay(): Promise<number> {
    const store = this.store!;
    let total = 0;
    for (const file of this.spool.replayable()) {
      let offset = await store.spoolOffset(file);
      for (;;) {
        const chunk = this.spool.read(file, offset, REPLAY_ROWS);
        if (chunk.bad > 0)
          this.options.notify(`safetynet: skipped ${chunk.bad} unreadable lines in spool file ${file}`);
        if (chunk.next > offset) {
          try {
            await store.append(chunk.rows, {
              spoolMark: { file, from: offset, to: chunk.next },
              deferIndex: true,
            });
            total += chunk.rows.length;
          } catch (err) {
            if (!(err instanceof SpoolMarkConflict)) throw err;
            // Another process replayed this range first: continue from where it got.
          }
          offset = await store.spoolOffset(file);
        }
        if (chunk.atEnd || (chunk.next === offset && chunk.rows.length === 0 && chunk.bad === 0)) {
          if (chunk.atEnd) {
            this.spool.remove(file);
            await store.forgetSpool(file);
          }
          break;
        }
      }
    }
    if (total > 0) await store.maintain(Number.MAX_SAFE_INTEGER);
    return total;
  }

  /** The `critical` `system` entry for a store file deleted or replaced while in use. */
  private async recordIncident(store: LogStore): Promise<void> {
    const { message, at } = this.incident!;
    await store.append([
      {
        ts: at,
        level: 'critical',
        category: 'system',
        message,
        details: JSON.stringify({ store: this.where, pid: process.pid }),
        orderId: null,
        errorStack: null,
      },
    ]);
    this.incident = null;
  }

  private markDown(err: unknown): void {
    const msg = errText(err);
    if ((err as { code?: unknown })?.code === 'E_LOG_STORE_REPLACED') {
      this.incident = { message: msg, at: Date.now() };
      this.options.notify(`safetynet: ${msg}`);
      // Reopen at once: the path holds a store again (the rescued one, or the replacement).
      const store = this.store;
      this.store = null;
      store?.close().catch(() => {});
      this.nextAttempt = 0;
      return;
    }
    if (this.down === null) {
      this.options.notify(
        `safetynet: log store ${this.where} cannot be written (${msg}); entries go to the spool in ${this.options.spoolDir} until it is back`,
      );
    }
    this.down = msg;
    // Reopen from scratch next time: the connection itself may be what broke.
    const store = this.store;
    this.store = null;
    store?.close().catch(() => {
      // closing a broken connection may fail too
    });
    this.nextAttempt = Date.now() + this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private mirror(rows: AppendRow[], idOf: (i: number) => string): void {
    const out = this.options.mirror;
    if (!out) return;
    let text = '';
    for (let i = 0; i < rows.length; i++) text += mirrorLine(rows[i]!, idOf(i));
    out(text);
  }
}

/** The writer's append options: the text index deferred, the chain state reported, links computed ahead. */
function appendOptions(ahead: ChainAhead | undefined): AppendOptions {
  return ahead ? { deferIndex: true, reportChain: true, ahead } : { deferIndex: true, reportChain: true };
}

/** The store for messages: the SQLite file, or the PostgreSQL server without its password. */
export function describeStore(store: LogStoreConfig): string {
  if (store.type === 'sqlite') return store.path;
  if (!store.connectionString) return 'postgres (PG* environment)';
  try {
    const u = new URL(store.connectionString);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres';
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: unknown } }).cause;
    return typeof cause?.code === 'string' && !err.message.includes(cause.code)
      ? `${err.message} (${cause.code})`
      : err.message;
  }
  return String(err);
}
