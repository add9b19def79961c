/**
 * The logger's write path on the calling thread: rows are appended to a batch (no I/O, no
 * promise chains) and the batch leaves at the next turn of the event loop, or at once when it is
 * large. Each row's promise resolves with its id when the entry is durable.
 *
 * Where a batch goes (see docs/logging.md, "Bursts and overflow"):
 * - to the writer in memory, while the entries held in memory and not yet durable stay within
 *   `maxQueueEntries` / `maxQueueBytes`;
 * - past that, to an overflow file on disk (overflow.ts), and the writer gets only its place. Once
 *   a burst overflows, every batch goes to disk until the writer has stored the whole overflow, so
 *   entries are stored in the order they were logged. An overflowed entry is durable once its file
 *   is fsync'd (on the thread pool) or once the writer has stored it, whichever comes first;
 * - dropped (counted, given to `lastResort`, reported in a `system` entry) only when the overflow
 *   file cannot be written either (the disk is full), or when its fsyncs fall more than
 *   `maxQueueEntries` entries behind (a disk that no longer completes them).
 *
 * Two writers: a worker thread (default; the event loop never waits for SQLite or fsync) and
 * inline (the CLI: no thread start-up). Both run writer-loop.ts.
 */
import type { Worker } from 'node:worker_threads';
import { spawnLogThread } from './spawn-thread.js';
import { Spool, OVERFLOW_EXT } from './spool.js';
import { OverflowFile, encodeRecord } from './overflow.js';
import { WriterCore } from './writer-core.js';
import { WriterLoop } from './writer-loop.js';
import {
  BatchBuilder,
  decodeBatch,
  type Ack,
  type WireBatch,
  type WorkerData,
  type WriterMessage,
} from './wire.js';
import type { LogStoreConfig } from '../config/types.js';
import type { AppendRow } from './store/types.js';
import type { CloseReport, FlushResult, Level } from './types.js';

/** Rows per batch before it leaves without waiting for the next tick. */
const MAX_BATCH_ROWS = 2048;
/** Text (UTF-16 units) per batch before it leaves without waiting for the next tick. */
const MAX_BATCH_CHARS = 1 << 20;
/** Bytes counted per entry on top of its text fields (ids, numbers, the promise). */
const ROW_OVERHEAD_BYTES = 64;
/**
 * Overflowed entries whose file is not fsync'd yet hold their callers' promises in memory. Past
 * this many times `maxEntries` of them, with the oldest written more than UNSYNCED_STALL_MS ago,
 * the disk is taken as no longer completing fsyncs and new entries are dropped. Measured on the
 * loaded development machine: single fsyncs of 4-230 ms during a burst, i.e. up to ~35,000
 * entries behind at 150,000 entries/s. (The age matters too: code logging in one long synchronous
 * loop gives the event loop no chance to see an fsync complete, however fast the disk.)
 */
const UNSYNCED_FACTOR = 8;
const UNSYNCED_STALL_MS = 1000;
/**
 * After the overflow file refused a record (disk full), entries past the memory cap are dropped
 * without trying it again for this long: each try encodes the batch and decodes it again to drop
 * it, and an app logging in a tight loop on a full disk made that garbage (100 MB of RSS growth
 * over 30,000 entries of 4 KB against 38 MB when dropping at once, test/log/disk-full.test.ts).
 */
const OVERFLOW_RETRY_MS = 250;
/** An overflow file is closed and a new one started past this size, so stored ones can go. */
const OVERFLOW_FILE_BYTES = 64 * 1024 * 1024;

/** How much the sink may hold in memory and how long anyone waits for it. */
export interface QueueLimits {
  /** Entries held in memory (not yet durable) before new batches go to an overflow file. */
  maxEntries: number;
  /** Bytes (message, details, stack; UTF-16 units) held in memory before batches overflow. */
  maxBytes: number;
  /** An awaited write, and flush(), settle after this long even when nothing is durable, ms. */
  writeTimeoutMs: number;
  /** close() returns after about this long, whatever the writer is doing, ms. */
  closeTimeoutMs: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  maxEntries: 20_000,
  maxBytes: 32 * 1024 * 1024,
  writeTimeoutMs: 10_000,
  closeTimeoutMs: 10_000,
};

export interface Sink {
  push(
    ts: number,
    level: Level,
    category: string,
    message: string,
    details: string,
    orderId: string | null,
    errorStack: string | null,
    provider: string | null,
    eventId: string | null,
  ): Promise<string>;
  flush(timeoutMs?: number): Promise<FlushResult>;
  /** Entries pushed and not yet durable. */
  pending(): number;
  /** Blocks until everything pushed so far is durable or `timeoutMs` passed; true when durable. */
  flushSync(timeoutMs: number): boolean;
  close(): Promise<CloseReport>;
}

/** An overflow file this sink writes or has written, with its records not yet stored. */
interface OverflowState {
  file: OverflowFile;
  /** Records handed to the writer and not yet acknowledged. */
  outstanding: number;
  /** No more records go into it (rotated, or the burst is over). */
  retired: boolean;
  /** Records written and not yet fsync'd, oldest first. */
  unsynced: Posted[];
}

/** A batch handed to the writer and not yet acknowledged by it. */
interface Posted {
  seq: number;
  count: number;
  /** Bytes counted against the memory cap while held (0 for an overflow record). */
  bytes: number;
  /** Emptied once the callers were told (id or status), so the closures are freed. */
  resolvers: ((id: string) => void)[];
  /** When it was handed over (ms). */
  at: number;
  /** In memory: the rows (resent to a restarted writer thread; the last resort at close). */
  batch: WireBatch | null;
  /** On disk: the overflow file and the record's place in it. */
  overflow: OverflowState | null;
  from: number;
  to: number;
  firstEntry: number;
  /** Stored by the writer, or fsync'd in its overflow file. */
  durable: boolean;
}

interface FlushWaiter {
  seq: number;
  resolve: (r: FlushResult) => void;
  timer: NodeJS.Timeout;
}

abstract class BatchingSink implements Sink {
  private builder = new BatchBuilder();
  private resolvers: ((id: string) => void)[] = [];
  private builderBytes = 0;
  private scheduled = false;
  private seq = 0;
  /** Batches handed to the writer and not yet acknowledged, by seq (in seq order). */
  protected readonly sent = new Map<number, Posted>();
  private waiters: FlushWaiter[] = [];
  protected closed = false;
  private afterClose: Spool | undefined;
  /** Entries and bytes held in memory: the current batch plus batches sent in memory, not acknowledged. */
  private memEntries = 0;
  private memBytes = 0;
  /** Entries written to overflow files and neither fsync'd nor stored yet. */
  private unsyncedEntries = 0;
  /** The overflow file new batches go to during a burst, and every one not yet deleted. */
  private overflow: OverflowState | null = null;
  private readonly overflowFiles = new Set<OverflowState>();
  /** Overflow records not yet acknowledged: while any is, every batch overflows (order). */
  private overflowOutstanding = 0;
  private overflowSyncFailed = false;
  /** Until when entries past the cap are dropped at once (the overflow file refused a record), and why. */
  private overflowRefusedUntil = 0;
  private overflowRefusal: unknown;
  private readonly names: Spool;
  private dropped = 0;
  private droppedUnreported = 0;
  private dropStartedAt = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closeReport: CloseReport | undefined;

  constructor(
    protected readonly spoolDir: string,
    protected readonly limits: QueueLimits,
    protected readonly notifyText: (text: string) => void,
    private readonly lastResort: (line: string) => void,
    processToken: string,
  ) {
    this.names = new Spool(spoolDir, { token: processToken });
  }

  push(
    ts: number,
    level: Level,
    category: string,
    message: string,
    details: string,
    orderId: string | null,
    errorStack: string | null,
    provider: string | null,
    eventId: string | null,
  ): Promise<string> {
    if (this.closed)
      return Promise.resolve(
        this.spoolAfterClose({ ts, level, category, message, details, orderId, errorStack }),
      );
    if (this.unsyncedEntries >= this.limits.maxEntries * UNSYNCED_FACTOR && this.syncStalled()) {
      // The overflow file's fsyncs are that far behind: the disk no longer completes them.
      this.drop({ ts, level, category, message, details, orderId, errorStack });
      return Promise.resolve('unsaved:dropped');
    }
    if (this.overflowRefusedUntil !== 0 && this.memEntries >= this.limits.maxEntries) {
      if (Date.now() < this.overflowRefusedUntil) {
        this.drop({ ts, level, category, message, details, orderId, errorStack }, this.overflowRefusal);
        return Promise.resolve('unsaved:dropped');
      }
      this.overflowRefusedUntil = 0;
    }
    const bytes =
      message.length + details.length + (errorStack === null ? 0 : errorStack.length) + ROW_OVERHEAD_BYTES;
    this.memEntries++;
    this.memBytes += bytes;
    this.builderBytes += bytes;
    const b = this.builder;
    b.add(ts, level, category, message, details, orderId, errorStack, provider, eventId);
    const p = new Promise<string>(this.capture);
    if (
      b.count >= MAX_BATCH_ROWS ||
      b.chars >= MAX_BATCH_CHARS ||
      this.memEntries > this.limits.maxEntries ||
      this.memBytes > this.limits.maxBytes
    )
      this.post();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.tick);
    }
    return p;
  }

  /** True when an overflow record has waited for its fsync longer than UNSYNCED_STALL_MS. */
  private syncStalled(): boolean {
    const due = Date.now() - UNSYNCED_STALL_MS;
    for (const st of this.overflowFiles) if (st.unsynced.length > 0 && st.unsynced[0]!.at < due) return true;
    return false;
  }

  /** The promise executor, made once (no closure per call). */
  private readonly capture = (resolve: (id: string) => void): void => {
    this.resolvers.push(resolve);
  };

  private readonly tick = (): void => {
    this.scheduled = false;
    this.post();
  };

  /** Hands the current batch to the writer: in memory, or through an overflow file. */
  protected post(): void {
    if (this.builder.count === 0) return;
    const batch = this.builder.take();
    const p: Posted = {
      seq: ++this.seq,
      count: batch.count,
      bytes: this.builderBytes,
      resolvers: this.resolvers,
      at: Date.now(),
      batch,
      overflow: null,
      from: 0,
      to: 0,
      firstEntry: 0,
      durable: false,
    };
    this.resolvers = [];
    this.builderBytes = 0;
    // One timer for all batches (none per call): it tells callers of overdue batches.
    this.sweepTimer ??= setInterval(
      this.sweep,
      Math.max(10, Math.min(1000, this.limits.writeTimeoutMs / 4)),
    ).unref();
    const overCap = this.memEntries > this.limits.maxEntries || this.memBytes > this.limits.maxBytes;
    if (this.overflowOutstanding > 0 || overCap) this.postOverflow(p, batch);
    else {
      this.sent.set(p.seq, p);
      this.send({ t: 'append', seq: p.seq, batch });
    }
  }

  /** Writes the batch to the overflow file and hands the writer its place; drops it when it cannot. */
  private postOverflow(p: Posted, batch: WireBatch): void {
    this.memEntries -= p.count;
    this.memBytes -= p.bytes;
    p.bytes = 0;
    p.batch = null;
    let st: OverflowState;
    try {
      st = this.overflowFile();
      const at = st.file.append(encodeRecord(batch), batch.count);
      p.from = at.from;
      p.to = at.to;
      p.firstEntry = at.firstEntry;
    } catch (err) {
      this.overflowRefusedUntil = Date.now() + OVERFLOW_RETRY_MS;
      this.overflowRefusal = err;
      for (const row of decodeBatch(batch)) this.drop(row, err);
      for (const r of p.resolvers) r('unsaved:dropped');
      return;
    }
    p.overflow = st;
    st.outstanding++;
    this.overflowOutstanding++;
    st.unsynced.push(p);
    this.unsyncedEntries += p.count;
    this.sent.set(p.seq, p);
    this.send({ t: 'overflow', seq: p.seq, count: p.count, file: st.file.name, from: p.from, to: p.to });
    this.syncOverflow(st);
  }

  /** The overflow file to append to: the current one, or a new one (first, or past its size). */
  private overflowFile(): OverflowState {
    const cur = this.overflow;
    if (cur && cur.file.size < OVERFLOW_FILE_BYTES) return cur;
    if (cur) this.retire(cur);
    const st: OverflowState = {
      file: OverflowFile.create(this.spoolDir, this.names.newName(OVERFLOW_EXT)),
      outstanding: 0,
      retired: false,
      unsynced: [],
    };
    this.overflow = st;
    this.overflowFiles.add(st);
    return st;
  }

  /**
   * No more records go into `st`. The writer is told now: the message queues behind the file's
   * records, so it deletes the file once it has stored them all (and leaves it, for the next
   * logger, when it never gets that far).
   */
  private retire(st: OverflowState): void {
    if (st.retired) return;
    st.retired = true;
    if (this.overflow === st) this.overflow = null;
    this.send({ t: 'overflow-done', file: st.file.name });
    this.forgetOverflowFile(st);
  }

  /** A retired file with nothing left to fsync or acknowledge: closed and forgotten here. */
  private forgetOverflowFile(st: OverflowState): void {
    if (!st.retired || st.outstanding > 0 || st.unsynced.length > 0 || !this.overflowFiles.has(st)) return;
    this.overflowFiles.delete(st);
    st.file.close();
  }

  /** fsyncs `st` on the thread pool (one at a time), then tells the callers of what it covered. */
  private syncOverflow(st: OverflowState): void {
    if (st.unsynced.length === 0) return;
    st.file.sync((err, size) => {
      if (err) {
        // Not known to be durable on disk: these callers hear from the writer's commit instead.
        if (!this.overflowSyncFailed)
          this.notifyText(`safetynet: cannot fsync log overflow file ${st.file.name}: ${err.message}`);
        this.overflowSyncFailed = true;
      }
      while (st.unsynced.length > 0 && st.unsynced[0]!.to <= size) {
        const p = st.unsynced.shift()!;
        this.unsyncedEntries -= p.count;
        if (!err) this.settleOverflowed(p);
      }
      this.checkWaiters();
      this.syncOverflow(st);
      this.forgetOverflowFile(st);
    });
  }

  /** An overflow record is durable in its file: its callers get the spool ids of its entries. */
  private settleOverflowed(p: Posted): void {
    p.durable = true;
    const r = p.resolvers;
    if (r.length === 0) return;
    p.resolvers = [];
    const prefix = `spool:${p.overflow!.file.name}:`;
    for (let i = 0; i < r.length; i++) r[i]!(prefix + String(p.firstEntry + i));
  }

  /** Settles the callers of batches older than writeTimeoutMs with `unsaved:timeout`. */
  private readonly sweep = (): void => {
    const due = Date.now() - this.limits.writeTimeoutMs;
    for (const p of this.sent.values()) {
      if (p.at > due) break;
      for (const r of p.resolvers) r('unsaved:timeout');
      p.resolvers = [];
    }
    if (this.sent.size === 0) this.stopSweep();
  };

  private stopSweep(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Delivers a hand-off to the writer; `acknowledge` is called once it is dealt with. */
  protected abstract send(msg: WriterMessage): void;

  protected acknowledge(a: Ack): void {
    const p = this.sent.get(a.seq);
    if (!p) return;
    this.sent.delete(a.seq);
    p.durable = true;
    const r = p.resolvers;
    p.resolvers = [];
    if (a.kind === 'store') for (let i = 0; i < r.length; i++) r[i]!(String(a.firstId + i));
    else if (a.kind === 'spool')
      for (let i = 0; i < r.length; i++) r[i]!(`spool:${a.file}:${a.firstLine + i}`);
    else for (let i = 0; i < r.length; i++) r[i]!(`spool:${p.overflow!.file.name}:${p.firstEntry + i}`);
    const st = p.overflow;
    if (st) {
      const k = st.unsynced.indexOf(p);
      if (k >= 0) {
        st.unsynced.splice(k, 1);
        this.unsyncedEntries -= p.count;
      }
      st.outstanding--;
      // The writer has stored the whole overflow: batches go through memory again.
      if (--this.overflowOutstanding === 0 && this.overflow) this.retire(this.overflow);
      this.forgetOverflowFile(st);
    } else {
      this.memEntries -= p.count;
      this.memBytes -= p.bytes;
    }
    this.checkWaiters();
    if (this.droppedUnreported > 0 && !this.closed && this.memEntries <= this.limits.maxEntries / 2)
      this.reportDrops();
    if (this.sent.size === 0) {
      this.stopSweep();
      this.drained();
    }
  }

  /** The first seq not yet durable (one past the last when everything is). */
  private frontier(): number {
    for (const p of this.sent.values()) if (!p.durable) return p.seq;
    return this.seq + 1;
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    const f = this.frontier();
    const ready = this.waiters.filter((w) => w.seq < f);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq >= f);
    for (const w of ready) {
      clearTimeout(w.timer);
      w.resolve({ durable: true, pending: this.pending() });
    }
  }

  /** Counts a dropped entry, tells the operator once per episode, hands the entry to the last resort. */
  private drop(row: AppendRow, cause?: unknown): void {
    this.dropped++;
    if (this.droppedUnreported++ === 0) {
      this.dropStartedAt = Date.now();
      const why =
        cause === undefined
          ? `the log overflow file's fsyncs are ${this.unsyncedEntries} entries behind`
          : `the log queue is full (${this.memEntries} entries, ${this.memBytes} bytes not yet durable) and the overflow file cannot be written (${cause instanceof Error ? cause.message : String(cause)})`;
      this.notifyText(
        `safetynet: ${why}: new entries are dropped and written to stderr until the store, the spool or the overflow file takes entries again`,
      );
    }
    this.giveUp(row, 'dropped');
  }

  /** Once the writer caught up, the drops of the episode become a `system` entry in the store. */
  private reportDrops(): void {
    const n = this.droppedUnreported;
    const from = this.dropStartedAt;
    this.droppedUnreported = 0;
    const now = Date.now();
    this.notifyText(
      `safetynet: the log writer caught up; ${n} entries were dropped while nothing could hold them`,
    );
    void this.push(
      now,
      'error',
      'system',
      `dropped ${n} log entries: the queue was full while the log store, the spool and the overflow file could not be written`,
      JSON.stringify({ dropped: n, from: new Date(from).toISOString(), until: new Date(now).toISOString() }),
      null,
      null,
      null,
      null,
    );
  }

  /** Writes an entry nothing durable took to the last resort (stderr), one NDJSON line. */
  private giveUp(row: AppendRow, reason: 'dropped' | 'closed'): void {
    try {
      this.lastResort(unsavedLine(row, reason));
    } catch {
      // the last resort failing leaves nothing else to try
    }
  }

  /** Called when nothing is in flight any more. */
  protected drained(): void {}

  pending(): number {
    return this.memEntries + this.unsyncedEntries;
  }

  flush(timeoutMs = this.limits.writeTimeoutMs): Promise<FlushResult> {
    this.post();
    const target = this.seq;
    if (this.frontier() > target) return Promise.resolve({ durable: true, pending: this.pending() });
    return new Promise((resolve) => {
      const w: FlushWaiter = {
        seq: target,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve({ durable: false, pending: this.pending() });
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  abstract flushSync(timeoutMs: number): boolean;

  /**
   * For flushes on this thread (process exit): posts the current batch and fsyncs the overflow
   * files here. Returns the highest seq still waiting in memory (0 when none): what must still be
   * acknowledged by the writer, or spooled, before everything is durable.
   */
  protected syncNow(): number {
    this.post();
    for (const st of this.overflowFiles) {
      if (st.unsynced.length === 0) continue;
      try {
        const size = st.file.syncSync();
        while (st.unsynced.length > 0 && st.unsynced[0]!.to <= size) {
          const p = st.unsynced.shift()!;
          this.unsyncedEntries -= p.count;
          this.settleOverflowed(p);
        }
      } catch {
        // left to the writer's commit
      }
    }
    let last = 0;
    for (const p of this.sent.values()) if (p.batch && !p.durable) last = p.seq;
    return last;
  }

  /** Hand-offs not yet acknowledged, oldest first, as messages (a restarted writer gets them again). */
  protected unacknowledged(): WriterMessage[] {
    return [...this.sent.values()].map((p): WriterMessage =>
      p.batch
        ? { t: 'append', seq: p.seq, batch: p.batch }
        : {
            t: 'overflow',
            seq: p.seq,
            count: p.count,
            file: p.overflow!.file.name,
            from: p.from,
            to: p.to,
          },
    );
  }

  abstract close(): Promise<CloseReport>;

  /** Closing: the overflow file being written gets no more records (the writer deletes it once stored). */
  protected retireOverflow(): void {
    if (this.overflow) this.retire(this.overflow);
  }

  /**
   * The end of close(): entries still held in memory go to the last resort and their callers learn
   * `unsaved:closed`. Overflow records not yet stored stay durable in their files (fsync'd now):
   * the next logger on this host replays them once this process has ended. Returns the report.
   */
  protected finishClose(): CloseReport {
    if (this.closeReport) return this.closeReport;
    this.closed = true;
    this.stopSweep();
    this.syncNow();
    let unsaved = 0;
    for (const p of this.sent.values()) {
      if (p.batch) {
        unsaved += p.count;
        for (const row of decodeBatch(p.batch)) this.giveUp(row, 'closed');
        for (const r of p.resolvers) r('unsaved:closed');
      } else if (p.durable) {
        this.settleOverflowed(p);
      } else {
        unsaved += p.count;
        for (const r of p.resolvers) r('unsaved:closed');
      }
    }
    this.sent.clear();
    for (const st of this.overflowFiles) st.file.close();
    this.overflowFiles.clear();
    this.overflow = null;
    this.memEntries = 0;
    this.memBytes = 0;
    this.unsyncedEntries = 0;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve({ durable: unsaved === 0, pending: 0 });
    }
    if (unsaved > 0 || this.dropped > 0)
      this.notifyText(
        `safetynet: the log closed with ${unsaved} entries not durable and ${this.dropped} dropped earlier (written to stderr)`,
      );
    this.closeReport = { durable: unsaved === 0 && this.dropped === 0, unsaved, dropped: this.dropped };
    return this.closeReport;
  }

  /** After close, entries still land durably: in the spool, replayed by the next writer. */
  private spoolAfterClose(row: AppendRow): string {
    try {
      this.afterClose ??= new Spool(this.spoolDir);
      const s = this.afterClose.writeComplete([row]);
      return `spool:${s.file}:${s.firstLine}`;
    } catch (err) {
      // Nowhere durable is left: stderr is better than silence.
      this.notifyText(`safetynet: could not store a log entry after close (${String(err)})`);
      this.giveUp(row, 'closed');
      return 'unsaved:closed';
    }
  }
}

/** One entry nothing durable took, as an NDJSON line for stderr (the export fields plus why). */
export function unsavedLine(row: AppendRow, reason: 'dropped' | 'closed'): string {
  let details: unknown;
  try {
    details = JSON.parse(row.details);
  } catch {
    details = { _unparseable: row.details };
  }
  return JSON.stringify({
    safetynet: 'unsaved log entry',
    reason,
    timestamp: Number.isFinite(row.ts) ? new Date(row.ts).toISOString() : String(row.ts),
    level: row.level,
    category: row.category,
    message: row.message,
    details,
    order_id: row.orderId,
    error_stack: row.errorStack,
  });
}

export interface SinkOptions {
  store: LogStoreConfig;
  spoolDir: string;
  busyTimeoutMs: number;
  retryMs: number;
  stdout: boolean;
  processToken: string;
  notify: (text: string) => void;
  limits: QueueLimits;
  /** Receives, as one NDJSON line each, entries nothing durable took (default: stderr). */
  lastResort: (line: string) => void;
}

/** The default writer: a worker thread that owns the store connection. */
export class WorkerSink extends BatchingSink {
  private worker!: Worker;
  private readonly acked: Int32Array;
  private readonly data: WorkerData;
  private closing: Promise<CloseReport> | undefined;

  private constructor(private readonly options: SinkOptions) {
    super(options.spoolDir, options.limits, options.notify, options.lastResort, options.processToken);
    const ackBuffer = new SharedArrayBuffer(4);
    this.acked = new Int32Array(ackBuffer);
    this.data = {
      store: options.store,
      spoolDir: options.spoolDir,
      busyTimeoutMs: options.busyTimeoutMs,
      retryMs: options.retryMs,
      stdout: options.stdout,
      processToken: options.processToken,
      ackBuffer,
    };
  }

  /** Starts the writer thread; rejects when it cannot start (the caller then writes inline). */
  static async start(options: SinkOptions): Promise<WorkerSink> {
    const sink = new WorkerSink(options);
    await sink.spawn();
    return sink;
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = spawnLogThread('sqlite-worker', this.data);
      this.worker = worker;
      let ready = false;
      worker.on('message', (m: { t: string; acks?: Ack[]; text?: string }) => {
        if (m.t === 'ack') for (const a of m.acks!) this.acknowledge(a);
        else if (m.t === 'notify') this.options.notify(m.text!);
        else if (m.t === 'closed') void worker.terminate();
        else if (m.t === 'ready') {
          ready = true;
          if (this.sent.size === 0) worker.unref();
          resolve();
        }
      });
      worker.on('error', (err) => {
        if (!ready) reject(err);
        else this.options.notify(`safetynet: log writer thread failed: ${err.message}`);
      });
      worker.on('exit', () => {
        if (!ready) {
          reject(new Error('log writer thread exited during start-up'));
          return;
        }
        if (this.closed || this.worker !== worker) return;
        // It died (a bug, out of memory): start another and resend what was not acknowledged. A
        // batch committed just before the crash may be stored twice (overflow records not: their
        // file's replay mark is committed with them); losing it would be worse.
        this.spawn().then(
          () => {
            for (const m of this.unacknowledged()) this.send(m);
          },
          (err: Error) =>
            this.options.notify(`safetynet: cannot restart the log writer thread: ${err.message}`),
        );
      });
    });
  }

  protected send(msg: WriterMessage): void {
    this.worker.ref();
    this.worker.postMessage(msg);
  }

  protected override drained(): void {
    // Nothing in flight: the writer alone must not keep the app alive.
    if (!this.closed) this.worker.unref();
  }

  flushSync(timeoutMs: number): boolean {
    const target = this.syncNow();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const cur = Atomics.load(this.acked, 0);
      if (cur >= target) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.acked, 0, cur, left);
    }
  }

  close(): Promise<CloseReport> {
    this.closing ??= (async () => {
      const deadline = Date.now() + this.limits.closeTimeoutMs;
      await this.flush(this.limits.closeTimeoutMs);
      this.retireOverflow();
      this.closed = true;
      const worker = this.worker;
      worker.ref();
      // The thread finishes its queue (overflow records included) and closes the store; when it
      // cannot (a full disk, a lock held for ever) it is stopped at the deadline and what it held
      // in memory is reported unsaved.
      const exited = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.max(100, deadline - Date.now()));
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
        worker.postMessage({ t: 'close' } satisfies WriterMessage);
      });
      if (!exited) await worker.terminate();
      return this.finishClose();
    })();
    return this.closing;
  }
}

/** Writes on the calling thread (CLI commands: one short process, no thread to start). */
export class InlineSink extends BatchingSink {
  private readonly loop: WriterLoop;
  private loopClosed: (() => void) | undefined;
  private closing: Promise<CloseReport> | undefined;
  private exitSpool: Spool | undefined;

  constructor(options: SinkOptions) {
    super(options.spoolDir, options.limits, options.notify, options.lastResort, options.processToken);
    const coreOptions: ConstructorParameters<typeof WriterCore>[0] = {
      store: options.store,
      spoolDir: options.spoolDir,
      busyTimeoutMs: options.busyTimeoutMs,
      retryMs: options.retryMs,
      processToken: options.processToken,
      notify: options.notify,
    };
    if (options.stdout) coreOptions.mirror = (text) => process.stdout.write(text);
    this.loop = new WriterLoop(new WriterCore(coreOptions), {
      ack: (acks) => {
        for (const a of acks) this.acknowledge(a);
      },
      notify: options.notify,
      overflowDir: options.spoolDir,
      onClosed: () => this.loopClosed?.(),
      unrefTimers: true,
    });
    this.loop.start();
  }

  protected send(msg: WriterMessage): void {
    this.loop.enqueue(msg);
    this.loop.kick();
  }

  flushSync(): boolean {
    this.syncNow();
    // Nothing asynchronous runs any more (process exit, a fatal error): batches not yet handed to
    // the store go to the spool synchronously (replayed by the next writer). The one in flight is
    // left to its append (SQLite has committed it inside the call already); overflow records stay
    // in their fsync'd files for the next writer.
    for (const m of this.loop.takeWaiting()) {
      if (m.t !== 'append') continue;
      try {
        this.exitSpool ??= new Spool(this.spoolDir);
        const s = this.exitSpool.writeComplete(decodeBatch(m.batch));
        this.acknowledge({ seq: m.seq, kind: 'spool', file: s.file, firstLine: s.firstLine });
      } catch {
        return false;
      }
    }
    // What is left: the append in flight (its commit is done: SQLite commits inside the call),
    // and overflow records, durable once their file was fsync'd above.
    let notDurable = 0;
    for (const p of this.sent.values()) if (!p.durable) notDurable++;
    return notDurable === 0 || (notDurable === 1 && this.loop.busy);
  }

  close(): Promise<CloseReport> {
    this.closing ??= (async () => {
      const deadline = Date.now() + this.limits.closeTimeoutMs;
      await this.flush(this.limits.closeTimeoutMs);
      this.retireOverflow();
      this.closed = true;
      // The append under way finishes (bounded: a store that hangs is left behind at the deadline).
      await withDeadline(
        new Promise<void>((resolve) => {
          this.loopClosed = resolve;
          this.loop.enqueue({ t: 'close' });
          this.loop.kick();
        }),
        deadline,
      );
      this.loop.abandon();
      return this.finishClose();
    })();
    return this.closing;
  }
}

/** Waits for `p` until `deadline` (ms since the epoch) at the latest; its failure is ignored. */
async function withDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    }),
  ]);
  clearTimeout(timer);
}
