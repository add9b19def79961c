/**
 * The background text indexer of a SQLite store: a worker thread with its own connection that
 * fills the search file (sqlite/text-index.ts) while the writer thread goes on committing entries,
 * so on a 2-core machine tokenising runs beside the inserts instead of after them. The writer only
 * pokes it after each commit and reads how far it got; both go through a small SharedArrayBuffer
 * (no messages, so neither side's event loop has to turn for the other to see progress).
 *
 * Started by the store on the writer's behalf (SqliteLogStore.maintain and deferred appends) once
 * enough is waiting; a short CLI process never starts one. It is unref'd (never keeps a process
 * alive) and finishes its current step when asked to stop, which is bounded (one slice).
 */
import { Worker } from 'node:worker_threads';
import { workerUrl } from '../../../util/worker-url.js';
import type { FileIdentity } from './file-watch.js';

/** Int32 slots of the control block. */
export const POKE = 0;
export const STOP = 1;
export const STEPS = 2;
export const FAILED = 3;
/** Byte offset of the BigInt64 slot holding the committed watermark (-1: not known yet). */
export const UPTO_OFFSET = 16;
export const CONTROL_BYTES = 24;

export interface IndexerData {
  storeFile: string;
  busyTimeoutMs: number;
  control: SharedArrayBuffer;
  /** Run at a lower scheduling priority than the writer (see the worker). */
  lowPriority: boolean;
  /**
   * The store file the writer opened (device and inode): the thread opens the path only while
   * it is still that file. Following a replacement is the writer's job (sqlite/file-watch.ts).
   */
  identity: FileIdentity | undefined;
}

/**
 * Atomics.waitAsync (Node 20 has it; TypeScript's ES2023 library does not declare it yet): resolves
 * when `cell[index]` is no longer `value` (after a notify), or after `timeoutMs`. A pending
 * waitAsync does not keep a thread's event loop alive, so a timer does meanwhile.
 */
export async function waitChange(
  cell: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
): Promise<void> {
  const keepAlive = setTimeout(() => {}, timeoutMs + 10);
  try {
    await waitAsync(cell, index, value, timeoutMs);
  } finally {
    clearTimeout(keepAlive);
  }
}

async function waitAsync(cell: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const wait = (
    Atomics as unknown as {
      waitAsync: (
        a: Int32Array,
        i: number,
        v: number,
        t: number,
      ) => { async: boolean; value: Promise<string> | string };
    }
  ).waitAsync(cell, index, value, timeoutMs);
  if (wait.async) await wait.value;
}

/** Host side of the indexer thread. */
export class TextIndexer {
  private readonly ctl: Int32Array;
  private readonly uptoCell: BigInt64Array;
  private exited: Promise<void>;
  private alive = true;

  private constructor(
    private readonly worker: Worker,
    control: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control, 0, 4);
    this.uptoCell = new BigInt64Array(control, UPTO_OFFSET, 1);
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        this.alive = false;
        resolve();
      });
    });
    // An error inside the thread ends it; the store then indexes on its own thread again.
    worker.on('error', () => {
      this.alive = false;
    });
    worker.unref();
  }

  /** Starts the thread, or returns undefined when threads cannot be started here. */
  static start(
    storeFile: string,
    busyTimeoutMs: number,
    identity: FileIdentity | undefined,
    lowPriority = true,
  ): TextIndexer | undefined {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    new BigInt64Array(control, UPTO_OFFSET, 1)[0] = -1n;
    try {
      const data: IndexerData = { storeFile, busyTimeoutMs, control, lowPriority, identity };
      const worker = new Worker(workerUrl(import.meta.url, 'indexer-worker'), { workerData: data });
      return new TextIndexer(worker, control);
    } catch {
      return undefined;
    }
  }

  /** False once the thread ended (by error or close). */
  get running(): boolean {
    return this.alive && Atomics.load(this.ctl, FAILED) === 0;
  }

  /** The watermark the thread last committed, or -1 before its first step. */
  upto(): number {
    return Number(Atomics.load(this.uptoCell, 0));
  }

  /** New entries were committed: wake the thread if it waits. */
  poke(): void {
    Atomics.add(this.ctl, POKE, 1);
    Atomics.notify(this.ctl, POKE);
  }

  /**
   * Waits until the thread committed at least one more step after now, or `timeoutMs` passed (or
   * the thread ended). Never blocks the event loop.
   */
  async waitForStep(timeoutMs: number): Promise<void> {
    const steps = Atomics.load(this.ctl, STEPS);
    this.poke();
    const deadline = Date.now() + timeoutMs;
    while (this.running && Atomics.load(this.ctl, STEPS) === steps) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await waitChange(this.ctl, STEPS, steps, Math.min(left, 50));
    }
  }

  /**
   * Asks the thread to finish its step and exit; stops it after `timeoutMs`. Keeps the calling
   * thread alive meanwhile (the timer is referenced), so a process ending right after close()
   * does not cut the thread off in the middle of its transaction.
   */
  async close(timeoutMs = 5000): Promise<void> {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, POKE);
    if (!this.alive) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          void this.worker.terminate().finally(resolve);
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Signals the thread to stop without waiting (synchronous close paths). */
  stopSoon(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, POKE);
  }
}
