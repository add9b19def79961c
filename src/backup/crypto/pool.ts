/**
 * SealPool: seals and opens whole parts on worker threads, so a backup uses every core for zstd
 * (the bottleneck; DESIGN.md §5). Each call is independent; results come back in completion
 * order, so callers that need order keep it themselves (e.g. by index).
 *
 * Memory: each worker holds one part at a time; queued parts wait in the caller's memory, so
 * callers should keep at most a few parts in flight (workers + 1 or 2).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ExitCode, SafetynetError } from '../../errors.js';
import type { Identity, Recipient } from './keys.js';
import { encodeIdentity } from './keys.js';
import {
  deserializeError,
  transferable,
  type WorkerInit,
  type WorkerRequest,
  type WorkerResponse,
} from './pool-protocol.js';
import { DEFAULT_ZSTD_LEVEL, checkLevel } from './zstd.js';
import { workerUrl } from '../../util/worker-url.js';

export interface SealPoolOptions {
  recipients: Recipient[];
  /** Needed only for `open`. */
  identities?: Identity[];
  /** Worker count, capped at the machine's parallelism (default: that parallelism). */
  workers?: number;
  /** zstd level (default DEFAULT_ZSTD_LEVEL). */
  level?: number;
}

export interface SealResult {
  sealed: Buffer;
  plainSha256: string;
  sealedSha256: string;
}

export interface OpenResult {
  plain: Buffer;
  plainSha256: string;
}

export interface SealIntoResult {
  /** The sealed object: a view of the start of `out`, or fresh memory when it did not fit there. */
  sealed: Buffer;
  /** Whether `sealed` lies in `out`. */
  inPlace: boolean;
  plainSha256: string;
  sealedSha256: string;
}

export interface OpenIntoResult {
  /** Plaintext length, written at the start of `out`. */
  plainBytes: number;
  /** SHA-256 hex of the plaintext ('' with skipPlainHash). */
  plainSha256: string;
}

export interface PoolCallOptions {
  /**
   * Hand the input's memory to the worker instead of copying it (only when the Buffer owns its
   * whole ArrayBuffer; otherwise it is copied anyway). The caller's Buffer is then detached: its
   * length becomes 0. Off by default, because a caller reusing the buffer would silently read nothing.
   */
  transfer?: boolean;
  /** Object name for error messages (open). */
  name?: string;
  /**
   * Do not compute the plaintext SHA-256 (plainSha256 is then ''). File packs hash each blob
   * themselves (hashing the whole pack again cost ~20% of a file backup's worker time); a database
   * restore hashes the whole file it writes.
   */
  skipPlainHash?: boolean;
}

interface Task {
  req: WorkerRequest;
  transfer: ArrayBuffer[];
  resolve: (r: WorkerResponse & { ok: true }) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  task: Task | null;
}

export class SealPool {
  /** Number of worker threads. */
  readonly size: number;
  private readonly init: WorkerInit;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly hasIdentities: boolean;
  private readonly hasRecipients: boolean;

  constructor(opts: SealPoolOptions) {
    const cores = Math.max(1, availableParallelism());
    const wanted = opts.workers ?? cores;
    if (!Number.isInteger(wanted) || wanted < 1)
      throw new RangeError(`workers must be a positive integer, not ${wanted}`);
    this.size = Math.min(cores, wanted);
    const identities = opts.identities ?? [];
    this.init = {
      recipients: opts.recipients.map((r) => r.text),
      identities: identities.map(encodeIdentity),
      identitySources: identities.map((i) => i.source),
      level: checkLevel(opts.level ?? DEFAULT_ZSTD_LEVEL),
    };
    this.hasIdentities = identities.length > 0;
    this.hasRecipients = opts.recipients.length > 0;
  }

  /**
   * Compresses and encrypts one part; hashes are SHA-256 hex of the plaintext and of the sealed
   * bytes. A `plain` in a SharedArrayBuffer is read in place (keep it untouched until this settles).
   */
  async seal(plain: Uint8Array, opts: PoolCallOptions = {}): Promise<SealResult> {
    if (!this.hasRecipients) {
      throw new SafetynetError('E_NO_RECIPIENTS', 'there is no recipient to seal backups to', {
        hint: 'run `safetynet keygen` and put the printed "age1…" public key in backup.recipients',
        exitCode: ExitCode.usage,
      });
    }
    const r = await this.run('seal', plain, opts);
    return { sealed: toBuffer(r.data), plainSha256: r.plainSha256, sealedSha256: r.sealedSha256! };
  }

  /**
   * Seals one part into `out`, a view of a SharedArrayBuffer the caller reuses (no fresh memory per
   * part); a sealed object too big for it comes back in fresh memory instead (`inPlace` false).
   * `plain` is handled as by `seal` (read in place when shared, else copied or, with `transfer`,
   * moved). Keep `plain` and `out` untouched until the promise settles.
   */
  async sealInto(plain: Uint8Array, out: Uint8Array, opts: PoolCallOptions = {}): Promise<SealIntoResult> {
    if (!(out.buffer instanceof SharedArrayBuffer))
      throw new TypeError('sealInto needs `out` in a SharedArrayBuffer (see allocSharedAligned)');
    if (!this.hasRecipients) {
      throw new SafetynetError('E_NO_RECIPIENTS', 'there is no recipient to seal backups to', {
        hint: 'run `safetynet keygen` and put the printed "age1…" public key in backup.recipients',
        exitCode: ExitCode.usage,
      });
    }
    const r = await this.run('sealInto', plain, opts, out);
    const inPlace = r.sealedBytes! >= 0;
    return {
      sealed: inPlace ? Buffer.from(out.buffer, out.byteOffset, r.sealedBytes!) : toBuffer(r.data),
      inPlace,
      plainSha256: r.plainSha256,
      sealedSha256: r.sealedSha256!,
    };
  }

  /** Decrypts and decompresses one sealed part (needs `identities`); errors as openBuffer. */
  async open(sealed: Uint8Array, opts: PoolCallOptions = {}): Promise<OpenResult> {
    if (!this.hasIdentities) {
      throw new SafetynetError('E_IDENTITY_MISSING', 'no identity was given to open backup objects', {
        hint: 'set backup.identity to the identity file written by `safetynet keygen`',
        exitCode: ExitCode.usage,
      });
    }
    const r = await this.run('open', sealed, opts);
    return { plain: toBuffer(r.data), plainSha256: r.plainSha256 };
  }

  /**
   * Opens one sealed object straight into `out`, on a worker thread. Both views must lie in
   * SharedArrayBuffers (e.g. `allocSharedAligned`): the worker reads and writes them in place, so
   * a caller that reuses a few buffers never makes the kernel hand out fresh pages per part. The
   * caller must not touch either view until the promise settles. A plaintext longer than `out`
   * fails as E_OBJECT_CORRUPT. `transfer` is ignored (nothing is moved).
   */
  async openInto(sealed: Uint8Array, out: Uint8Array, opts: PoolCallOptions = {}): Promise<OpenIntoResult> {
    if (!(sealed.buffer instanceof SharedArrayBuffer) || !(out.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('openInto needs views of SharedArrayBuffers (see allocSharedAligned)');
    }
    if (!this.hasIdentities) {
      throw new SafetynetError('E_IDENTITY_MISSING', 'no identity was given to open backup objects', {
        hint: 'set backup.identity to the identity file written by `safetynet keygen`',
        exitCode: ExitCode.usage,
      });
    }
    const r = await this.run('openInto', sealed, opts, out);
    return { plainBytes: r.plainBytes!, plainSha256: r.plainSha256 };
  }

  /** Waits for the work already submitted, then stops the workers. Later calls are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private run(
    op: 'seal' | 'open' | 'openInto' | 'sealInto',
    data: Uint8Array,
    opts: PoolCallOptions,
    out?: Uint8Array,
  ): Promise<WorkerResponse & { ok: true }> {
    if (this.closed) {
      return Promise.reject(
        new SafetynetError('E_POOL_CLOSED', 'the seal pool was closed; no more work is accepted'),
      );
    }
    // Without `transfer`, post a private copy (structured clone would copy anyway); with it, move
    // the memory when the Buffer owns all of it. Shared memory is posted as it is: the worker
    // reads it in place (the caller keeps it untouched until the call settles).
    const shared = data.buffer instanceof SharedArrayBuffer;
    const payload = shared ? data : opts.transfer ? transferable(data) : copyOf(data);
    const transfer = shared ? [] : [payload.buffer as ArrayBuffer];
    const req: WorkerRequest = {
      id: this.nextId++,
      op,
      data: payload,
      ...(out ? { out } : {}),
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.skipPlainHash ? { skipPlainHash: true } : {}),
    };
    this.inFlight++;
    return new Promise<WorkerResponse & { ok: true }>((resolve, reject) => {
      this.queue.push({ req, transfer, resolve, reject });
      this.pump();
    }).finally(() => {
      this.inFlight--;
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => s.task === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      slot.worker.postMessage(task.req, task.transfer);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(workerUrl(import.meta.url, 'seal-worker'), { workerData: this.init });
    const slot: Slot = { worker, task: null };
    worker.on('message', (res: WorkerResponse) => {
      const task = slot.task;
      slot.task = null;
      // An idle worker must not keep the process alive if the caller forgets close().
      worker.unref();
      if (task) {
        if (res.ok) task.resolve(res);
        else task.reject(deserializeError(res.error));
      }
      this.pump();
    });
    const fail = (err: Error) => {
      // A crashed worker fails its task and is replaced on demand; the others carry on.
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const task = slot.task;
      slot.task = null;
      task?.reject(
        new SafetynetError('E_SEAL_WORKER', `a seal worker thread failed: ${err.message}`, { cause: err }),
      );
      void worker.terminate();
      this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) fail(new Error(`exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }
}

function copyOf(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(new ArrayBuffer(b.byteLength));
  c.set(b);
  return c;
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
