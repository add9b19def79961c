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
import type { Level } from './types.js';

/** Rows per posted batch before it leaves without waiting for the next tick. */
const MAX_BATCH_ROWS = 2048;

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
  flush(): Promise<void>;
  /** Entries pushed and not yet durable. */
  pending(): number;
  /** Blocks until everything pushed so far is durable or `timeoutMs` passed; true when durable. */
  flushSync(timeoutMs: number): boolean;
  close(): Promise<void>;
}

interface Sent {
  rows: FlatRows;
  count: number;
  resolvers: ((id: string) => void)[];
}

abstract class BatchingSink implements Sink {
  private rows: FlatRows = [];
  private resolvers: ((id: string) => void)[] = [];
  private scheduled = false;
  private seq = 0;
  protected ackedSeq = 0;
  /** Batches handed to the writer and not yet acknowledged, by seq. */
  protected readonly sent = new Map<number, Sent>();
  private waiters: { seq: number; resolve: () => void }[] = [];
  protected closed = false;
  private afterClose: Spool | undefined;

  constructor(protected readonly spoolDir: string) {}

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
    const batch: Sent = { rows: this.rows, count: this.resolvers.length, resolvers: this.resolvers };
    this.rows = [];
    this.resolvers = [];
    this.sent.set(seq, batch);
    this.send(seq, batch);
  }

  /** Delivers a batch to the writer; `acknowledge` is called once it is durable. */
  protected abstract send(seq: number, batch: Sent): void;

  protected acknowledge(a: Ack): void {
    const batch = this.sent.get(a.seq);
    if (batch) {
      this.sent.delete(a.seq);
      const r = batch.resolvers;
      if (a.kind === 'store') for (let i = 0; i < r.length; i++) r[i]!(String(a.firstId + i));
      else for (let i = 0; i < r.length; i++) r[i]!(`spool:${a.file}:${a.firstLine + i}`);
    }
    if (a.seq > this.ackedSeq) this.ackedSeq = a.seq;
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter((w) => w.seq <= this.ackedSeq);
      this.waiters = this.waiters.filter((w) => w.seq > this.ackedSeq);
      for (const w of ready) w.resolve();
    }
    if (this.sent.size === 0) this.drained();
  }

  /** Called when nothing is in flight any more. */
  protected drained(): void {}

  pending(): number {
    let n = this.resolvers.length;
    for (const b of this.sent.values()) n += b.count;
    return n;
  }

  flush(): Promise<void> {
    this.post();
    const target = this.seq;
    if (this.ackedSeq >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq: target, resolve }));
  }

  abstract flushSync(timeoutMs: number): boolean;

  protected get lastSeq(): number {
    return this.seq;
  }

  abstract close(): Promise<void>;

  /** After close, entries still land durably: in the spool, replayed by the next writer. */
  private spoolAfterClose(row: AppendRow): string {
    try {
      this.afterClose ??= new Spool(this.spoolDir);
      const s = this.afterClose.writeComplete([row]);
      return `spool:${s.file}:${s.firstLine}`;
    } catch (err) {
      // Nowhere durable is left: stderr is better than silence.
      process.stderr.write(`safetynet: could not store log entry (${String(err)}): ${JSON.stringify(row)}\n`);
      return 'stderr';
    }
  }
}

export interface SinkOptions {
  store: LogStoreConfig;
  spoolDir: string;
  busyTimeoutMs: number;
  retryMs: number;
  stdout: boolean;
  processToken: string;
  notify: (text: string) => void;
}

/** The default writer: a worker thread that owns the SQLite connection. */
export class WorkerSink extends BatchingSink {
  private worker!: Worker;
  private readonly acked: Int32Array;
  private readonly data: WorkerData;
  private closing: Promise<void> | undefined;

  private constructor(private readonly options: SinkOptions) {
    super(options.spoolDir);
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

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flush();
      this.closed = true;
      const worker = this.worker;
      worker.ref();
      await new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage({ t: 'close' });
      });
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
    super(options.spoolDir);
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
    void this.writeQueued();
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

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    while (this.writing) await new Promise((r) => setImmediate(r));
    await this.core.close();
  }
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
