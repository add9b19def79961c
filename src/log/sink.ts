/**
 * The logger's write path on the calling thread: rows are appended to a batch (no I/O, no
 * promise chains) and the batch leaves at the next turn of the event loop, or at once when it is
 * large. Each row's promise resolves with its id when the writer acknowledges the batch as durable.
 *
 * Two writers: a worker thread (default; the event loop never waits for SQLite or fsync) and
 * inline (the CLI: no thread start-up, the thread waits for each commit).
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { Spool } from './spool.js';
import { WriterCore } from './writer-core.js';
import { ROW_STRIDE, decodeRows, type Ack, type FlatRows, type WorkerData } from './wire.js';
import type { LogStoreConfig } from '../config/types.js';
import type { AppendRow } from './store/types.js';
import type { CloseReport, FlushResult, Level } from './types.js';

/** Rows per posted batch before it leaves without waiting for the next tick. */
const MAX_BATCH_ROWS = 2048;
/** Bytes counted per entry on top of its text fields (ids, numbers, array slots). */
const ROW_OVERHEAD_BYTES = 64;

/** How much the sink may hold in memory and how long anyone waits for it. */
export interface QueueLimits {
  /** Entries held in memory (not yet durable) before new ones are dropped. */
  maxEntries: number;
  /** Bytes (message, details, stack; UTF-16 units) held in memory before new ones are dropped. */
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

interface Sent {
  rows: FlatRows;
  count: number;
  bytes: number;
  /** Emptied when the batch times out (its callers were told), so the closures are freed. */
  resolvers: ((id: string) => void)[];
  /** When it was handed to the writer (ms). */
  at: number;
}

interface FlushWaiter {
  seq: number;
  resolve: (r: FlushResult) => void;
  timer: NodeJS.Timeout;
}

abstract class BatchingSink implements Sink {
  private rows: FlatRows = [];
  private resolvers: ((id: string) => void)[] = [];
  private rowsBytes = 0;
  private scheduled = false;
  private seq = 0;
  protected ackedSeq = 0;
  /** Batches handed to the writer and not yet acknowledged, by seq (in seq order). */
  protected readonly sent = new Map<number, Sent>();
  private waiters: FlushWaiter[] = [];
  protected closed = false;
  private afterClose: Spool | undefined;
  /** Entries and bytes held in memory: the current batch plus everything sent and not acknowledged. */
  private queuedEntries = 0;
  private queuedBytes = 0;
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
  ) {}

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
    const bytes =
      message.length + details.length + (errorStack === null ? 0 : errorStack.length) + ROW_OVERHEAD_BYTES;
    if (this.queuedEntries >= this.limits.maxEntries || this.queuedBytes + bytes > this.limits.maxBytes) {
      this.drop({ ts, level, category, message, details, orderId, errorStack });
      return Promise.resolve('unsaved:dropped');
    }
    this.queuedEntries++;
    this.queuedBytes += bytes;
    this.rowsBytes += bytes;
    this.rows.push(ts, level, category, message, details, orderId, errorStack, provider, eventId);
    const p = new Promise<string>(this.capture);
    if (this.resolvers.length >= MAX_BATCH_ROWS) this.post();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.tick);
    }
    return p;
  }

  /** The promise executor, made once (no closure per call). */
  private readonly capture = (resolve: (id: string) => void): void => {
    this.resolvers.push(resolve);
  };

  private readonly tick = (): void => {
    this.scheduled = false;
    this.post();
  };

  /** Hands the current batch to the writer. */
  protected post(): void {
    if (this.resolvers.length === 0) return;
    const seq = ++this.seq;
    const batch: Sent = {
      rows: this.rows,
      count: this.resolvers.length,
      bytes: this.rowsBytes,
      resolvers: this.resolvers,
      at: Date.now(),
    };
    this.rows = [];
    this.resolvers = [];
    this.rowsBytes = 0;
    this.sent.set(seq, batch);
    // One timer for all batches (none per call): it tells callers of overdue batches.
    this.sweepTimer ??= setInterval(
      this.sweep,
      Math.max(10, Math.min(1000, this.limits.writeTimeoutMs / 4)),
    ).unref();
    this.send(seq, batch);
  }

  /** Settles the callers of batches older than writeTimeoutMs with `unsaved:timeout`. */
  private readonly sweep = (): void => {
    const due = Date.now() - this.limits.writeTimeoutMs;
    for (const batch of this.sent.values()) {
      if (batch.at > due) break;
      for (const r of batch.resolvers) r('unsaved:timeout');
      batch.resolvers = [];
    }
    if (this.sent.size === 0) this.stopSweep();
  };

  private stopSweep(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Delivers a batch to the writer; `acknowledge` is called once it is durable. */
  protected abstract send(seq: number, batch: Sent): void;

  protected acknowledge(a: Ack): void {
    const batch = this.sent.get(a.seq);
    if (batch) {
      this.sent.delete(a.seq);
      this.queuedEntries -= batch.count;
      this.queuedBytes -= batch.bytes;
      const r = batch.resolvers;
      if (a.kind === 'store') for (let i = 0; i < r.length; i++) r[i]!(String(a.firstId + i));
      else for (let i = 0; i < r.length; i++) r[i]!(`spool:${a.file}:${a.firstLine + i}`);
    }
    if (a.seq > this.ackedSeq) this.ackedSeq = a.seq;
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter((w) => w.seq <= this.ackedSeq);
      this.waiters = this.waiters.filter((w) => w.seq > this.ackedSeq);
      for (const w of ready) {
        clearTimeout(w.timer);
        w.resolve({ durable: true, pending: this.queuedEntries });
      }
    }
    if (this.droppedUnreported > 0 && !this.closed && this.queuedEntries <= this.limits.maxEntries / 2)
      this.reportDrops();
    if (this.sent.size === 0) {
      this.stopSweep();
      this.drained();
    }
  }

  /** Counts a dropped entry, tells the operator once per episode, hands the entry to the last resort. */
  private drop(row: AppendRow): void {
    this.dropped++;
    if (this.droppedUnreported++ === 0) {
      this.dropStartedAt = Date.now();
      this.notifyText(
        `safetynet: the log queue is full (${this.queuedEntries} entries, ${this.queuedBytes} bytes not yet durable): ` +
          'new entries are dropped and written to stderr until the store or the spool takes entries again',
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
      `safetynet: the log writer caught up; ${n} entries were dropped while its queue was full`,
    );
    void this.push(
      now,
      'error',
      'system',
      `dropped ${n} log entries: the queue was full while the log store and the spool could not be written`,
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
    return this.queuedEntries;
  }

  flush(timeoutMs = this.limits.writeTimeoutMs): Promise<FlushResult> {
    this.post();
    const target = this.seq;
    if (this.ackedSeq >= target) return Promise.resolve({ durable: true, pending: this.queuedEntries });
    return new Promise((resolve) => {
      const w: FlushWaiter = {
        seq: target,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve({ durable: false, pending: this.queuedEntries });
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  abstract flushSync(timeoutMs: number): boolean;

  protected get lastSeq(): number {
    return this.seq;
  }

  abstract close(): Promise<CloseReport>;

  /**
   * The end of close(): whatever is still not acknowledged goes to the last resort and its
   * callers learn `unsaved:closed`. Returns the report.
   */
  protected finishClose(): CloseReport {
    if (this.closeReport) return this.closeReport;
    this.closed = true;
    this.stopSweep();
    let unsaved = 0;
    for (const batch of this.sent.values()) {
      unsaved += batch.count;
      for (const row of decodeRows(batch.rows)) this.giveUp(row, 'closed');
      for (const r of batch.resolvers) r('unsaved:closed');
    }
    this.sent.clear();
    this.queuedEntries = 0;
    this.queuedBytes = 0;
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

/** The default writer: a worker thread that owns the SQLite connection. */
export class WorkerSink extends BatchingSink {
  private worker!: Worker;
  private readonly acked: Int32Array;
  private readonly data: WorkerData;
  private closing: Promise<CloseReport> | undefined;

  private constructor(private readonly options: SinkOptions) {
    super(options.spoolDir, options.limits, options.notify, options.lastResort);
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
      const worker = spawnWriterThread(this.data);
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
        // It died (native crash, bug): start another and resend what was not acknowledged. A batch
        // committed just before the crash may be stored twice; losing it would be worse.
        this.spawn().then(
          () => {
            for (const [seq, batch] of [...this.sent].sort((a, b) => a[0] - b[0])) this.send(seq, batch);
          },
          (err: Error) =>
            this.options.notify(`safetynet: cannot restart the log writer thread: ${err.message}`),
        );
      });
    });
  }

  protected send(seq: number, batch: Sent): void {
    this.worker.ref();
    this.worker.postMessage({ t: 'append', seq, count: batch.count, rows: batch.rows });
  }

  protected override drained(): void {
    // Nothing in flight: the writer alone must not keep the app alive.
    if (!this.closed) this.worker.unref();
  }

  flushSync(timeoutMs: number): boolean {
    this.post();
    const target = this.lastSeq;
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
      this.closed = true;
      const worker = this.worker;
      worker.ref();
      // The thread finishes its queue and closes the store; when it cannot (a full disk, a lock
      // held for ever) it is stopped at the deadline and what it held is reported unsaved.
      const exited = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.max(100, deadline - Date.now()));
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
        worker.postMessage({ t: 'close' });
      });
      if (!exited) await worker.terminate();
      return this.finishClose();
    })();
    return this.closing;
  }
}

/** Writes on the calling thread (CLI commands: one short process, no thread to start). */
export class InlineSink extends BatchingSink {
  private readonly core: WriterCore;
  private retry: NodeJS.Timeout | undefined;
  private idleScheduled = false;

  constructor(options: SinkOptions) {
    super(options.spoolDir, options.limits, options.notify, options.lastResort);
    const coreOptions: ConstructorParameters<typeof WriterCore>[0] = {
      store: options.store,
      spoolDir: options.spoolDir,
      busyTimeoutMs: options.busyTimeoutMs,
      retryMs: options.retryMs,
      processToken: options.processToken,
      notify: options.notify,
    };
    if (options.stdout) coreOptions.mirror = (text) => process.stdout.write(text);
    this.core = new WriterCore(coreOptions);
    this.writing = true;
    void this.core.start().finally(() => {
      this.writing = false;
      if (this.sent.size > 0) void this.writeQueued();
      else this.scheduleIdle();
    });
  }

  protected send(): void {
    // While a retry is due, a new batch waits for it (no write attempt, no notice, per batch).
    if (!this.retry) void this.writeQueued();
  }

  private writing = false;
  /** The batch whose append is under way. */
  private inFlight: number | undefined;

  /** Writes the unacknowledged batches in order, one append at a time. */
  private async writeQueued(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (let next = this.oldestSent(); next; next = this.oldestSent()) {
        const [seq, batch] = next;
        this.inFlight = seq;
        const out = await this.core.write(decodeRows(batch.rows));
        this.inFlight = undefined;
        if (out.kind === 'failed') {
          this.retry ??= setTimeout(
            () => {
              this.retry = undefined;
              void this.writeQueued();
            },
            Math.max(50, this.core.retryDelay()),
          );
          return;
        }
        this.acknowledge(
          out.kind === 'store'
            ? { seq, kind: 'store', firstId: out.firstId }
            : { seq, kind: 'spool', file: out.file, firstLine: out.firstLine },
        );
      }
    } finally {
      this.writing = false;
    }
    this.scheduleIdle();
  }

  private oldestSent(): [number, Sent] | undefined {
    let best: [number, Sent] | undefined;
    for (const e of this.sent) if (!best || e[0] < best[0]) best = e;
    return best;
  }

  /** Background work: replay the spool once the store is back, keep the text index caught up. */
  private scheduleIdle(delayMs = 0): void {
    if (this.idleScheduled || this.closed) return;
    this.idleScheduled = true;
    const run = async () => {
      this.idleScheduled = false;
      if (this.closed || this.writing) return;
      this.writing = true;
      const more = await this.core.idle().finally(() => (this.writing = false));
      if (this.sent.size > 0) void this.writeQueued();
      else if (more) this.scheduleIdle();
      else if (!this.core.healthy) this.scheduleIdle(Math.max(50, this.core.retryDelay()));
    };
    const t = delayMs > 0 ? setTimeout(() => void run(), delayMs) : setImmediate(() => void run());
    t.unref();
  }

  flushSync(): boolean {
    this.post();
    // Nothing asynchronous runs any more (process exit, a fatal error): batches not yet handed to
    // the store go to the spool synchronously (replayed by the next writer). The batch in flight
    // is left to its append (SQLite has committed it inside the call already).
    for (const [seq, batch] of [...this.sent].sort((a, b) => a[0] - b[0])) {
      if (seq === this.inFlight) continue;
      try {
        this.exitSpool ??= new Spool(this.spoolDir);
        const s = this.exitSpool.writeComplete(decodeRows(batch.rows));
        this.acknowledge({ seq, kind: 'spool', file: s.file, firstLine: s.firstLine });
      } catch {
        return false;
      }
    }
    return this.sent.size === 0 || (this.sent.size === 1 && this.sent.has(this.inFlight ?? -1));
  }

  private exitSpool: Spool | undefined;
  private closing: Promise<CloseReport> | undefined;

  close(): Promise<CloseReport> {
    this.closing ??= (async () => {
      const deadline = Date.now() + this.limits.closeTimeoutMs;
      await this.flush(this.limits.closeTimeoutMs);
      this.closed = true;
      if (this.retry) clearTimeout(this.retry);
      // The append under way finishes (bounded: a store that hangs is left behind at the deadline).
      while (this.writing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await withDeadline(this.core.close(), deadline);
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

/**
 * Starts the writer thread. Under a TypeScript runner (tests, benchmarks) the sources are .ts and
 * the thread registers tsx itself; the built package runs the compiled .js directly.
 */
function spawnWriterThread(data: WorkerData): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const target = new URL('./sqlite-worker.ts', here).href;
    const tsxDir = path.dirname(createRequire(here).resolve('tsx/package.json'));
    const tsx = pathToFileURL(path.join(tsxDir, 'dist/esm/api/index.mjs')).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); })
      .catch((err) => setImmediate(() => { throw err; }));`;
    return new Worker(code, { eval: true, workerData: data });
  }
  return new Worker(new URL('./sqlite-worker.js', here), { workerData: data });
}

export { ROW_STRIDE };
