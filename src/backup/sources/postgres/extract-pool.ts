/**
 * Building a data directory from a base backup and WAL on every core, with the main thread moving
 * sealed bytes only. Worker threads (extract-worker.ts, two per core) each take a sealed part,
 * check and open it (age + zstd), read its tar headers once the previous part's reader says where
 * the stream stands, pass that on at once, and write the part's files themselves; WAL segments are
 * opened and written the same way. So the parts are opened in parallel, their headers read in
 * order, and their files written in parallel.
 *
 * Why not the seal pool plus writes on the main thread: every opened part then came back to the
 * main thread as a new 8 MiB buffer, ~2 GB for a 1.5 GB cluster, and V8 answers that much outside
 * memory with a major collection of the main heap every ~64 MB: 56 of them, a quarter of the
 * restore's CPU. Here the plaintext lives and dies in the workers' small heaps.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Repository } from '../../repo/repository.js';
import type { PartRecord } from '../../repo/types.js';
import { encodeIdentity } from '../../crypto/keys.js';
import { deserializeError, transferable } from '../../crypto/pool-protocol.js';
import { IntegrityError, SafetynetError, StorageError } from '../../../errors.js';
import { workerUrl } from '../../../util/worker-url.js';
import { checkTarEnd, initialTarState, type TarState } from './tar-plan.js';
import type { ExtractInit, ExtractRequest, ExtractResponse, SealedObject } from './extract-protocol.js';

/** A WAL file to write: one closed segment, or an open segment's pieces over zeros. */
export interface WalFileJob {
  path: string;
  size: number;
  pieces: { key: string; start: number }[];
  /** For an open segment: where the whole segment is stored once it closes (pieces then go). */
  closedKey?: string;
}

export interface ExtractTimes {
  /** From the start until the base backup's last part was written. */
  baseMs: number;
  /** From the start until the last WAL file was written. */
  walMs: number;
}

type Job = { kind: 'part'; index: number } | { kind: 'wal'; id: number };
type Loaded = { job: Job; request: Promise<ExtractRequest> };

/**
 * Writes the base backup `parts` (a tar stream, in order) into `root` and the `wal` files, on
 * `workers` threads. Resolves when everything is written; fails with the first error.
 */
export async function extractInWorkers(
  repo: Repository,
  root: string,
  pointId: string,
  parts: PartRecord[],
  wal: WalFileJob[],
  opts: { workers?: number; signal?: AbortSignal } = {},
): Promise<ExtractTimes> {
  const identities = await repo.identities();
  const init: ExtractInit = {
    identities: identities.map(encodeIdentity),
    identitySources: identities.map((i) => i.source),
    root,
  };
  // Twice as many threads as cores: a thread waiting in fsync (1.5 s of thread time in a 1.5 GB
  // restore) leaves its core to another that opens the next part. On 2 cores, 4 threads restored
  // 1.5 GB in 2.51-2.72 s against 2.76-2.93 s with 2.
  const threads = opts.workers ?? Math.min(8, 2 * availableParallelism());
  const count = Math.max(1, Math.min(threads, parts.length + wal.length));
  const workers = Array.from(
    { length: count },
    () => new Worker(workerUrl(import.meta.url, 'extract-worker'), { workerData: init }),
  );
  try {
    return await new Extraction(repo, pointId, parts, wal, workers).run(opts.signal);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** One extraction: hands jobs to idle workers in order and passes the tar state along. */
class Extraction {
  private readonly jobs: Job[];
  private readonly busy = new Set<Worker>();
  /** Fetched ahead of the workers, in job order: a few sealed objects wait in memory. */
  private readonly loaded: Loaded[] = [];
  private readonly ahead: number;
  private nextToLoad = 0;
  /** The worker holding each part whose state it has not reported yet. */
  private readonly partWorker = new Map<number, Worker>();
  /** The tar state at the start of part `stateIndex`, until it is sent to that part's worker. */
  private state: TarState | null = initialTarState();
  private stateIndex = 0;
  private partsWritten = 0;
  private walWritten = 0;
  private failure: unknown;
  private dispatching = false;
  private readonly t0 = performance.now();
  private readonly times: ExtractTimes = { baseMs: 0, walMs: 0 };
  private settle!: { resolve: () => void; reject: (err: unknown) => void };

  constructor(
    private readonly repo: Repository,
    private readonly pointId: string,
    private readonly parts: PartRecord[],
    private readonly wal: WalFileJob[],
    private readonly workers: Worker[],
  ) {
    this.jobs = interleave(parts.length, wal.length);
    this.ahead = workers.length * 2 + 2;
  }

  async run(signal?: AbortSignal): Promise<ExtractTimes> {
    await new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      for (const w of this.workers) {
        w.on('message', (res: ExtractResponse) => this.onMessage(w, res));
        w.on('error', (err) => {
          this.busy.delete(w);
          this.fail(
            new SafetynetError('E_EXTRACT_WORKER', `a restore worker thread failed: ${err.message}`, {
              cause: err,
            }),
          );
        });
      }
      signal?.addEventListener('abort', () => this.fail(signal.reason ?? new Error('aborted')), {
        once: true,
      });
      this.load();
      this.finishIfDone();
      void this.dispatch();
    });
    if (this.parts.length) checkTarEnd(this.state ?? initialTarState());
    return this.times;
  }

  private onMessage(w: Worker, res: ExtractResponse): void {
    if (res.type === 'parsed') {
      // The part is read; its writes go on. The next part's reader can start at once.
      this.partWorker.delete(res.index);
      this.state = res.state;
      this.stateIndex = res.index + 1;
      this.sendState();
      return;
    }
    this.busy.delete(w);
    if (res.type === 'error') this.fail(deserializeError(res.error));
    else if (res.type === 'written') {
      if (++this.partsWritten === this.parts.length) this.times.baseMs = performance.now() - this.t0;
    } else if (++this.walWritten === this.wal.length) this.times.walMs = performance.now() - this.t0;
    this.finishIfDone();
    void this.dispatch();
  }

  private load(): void {
    while (
      this.failure === undefined &&
      this.nextToLoad < this.jobs.length &&
      this.loaded.length < this.ahead
    ) {
      const job = this.jobs[this.nextToLoad++]!;
      const request =
        job.kind === 'part'
          ? partRequest(this.repo, this.pointId, this.parts[job.index]!, job.index)
          : walRequest(this.repo, this.wal[job.id]!, job.id);
      request.catch(() => {});
      this.loaded.push({ job, request });
    }
  }

  /** Hands the next loaded job to an idle worker, in job order. */
  private async dispatch(): Promise<void> {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.failure === undefined && this.loaded.length) {
        const idle = this.workers.find((w) => !this.busy.has(w));
        if (!idle) break;
        const { job, request } = this.loaded[0]!;
        const req = await request;
        this.loaded.shift();
        this.load();
        this.busy.add(idle);
        idle.postMessage(req, transferList(req));
        if (job.kind === 'part') {
          this.partWorker.set(job.index, idle);
          if (job.index === this.stateIndex) this.sendState();
        }
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.dispatching = false;
    }
  }

  private sendState(): void {
    const w = this.partWorker.get(this.stateIndex);
    if (!w || !this.state || this.failure !== undefined) return;
    w.postMessage({ type: 'state', index: this.stateIndex, state: this.state } satisfies ExtractRequest);
    this.state = null; // until that part's reader reports the next one
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (this.failure !== undefined) {
      // Settle once no worker is between opening a file and closing it: the ones still busy only
      // hold a part waiting for a state that will not come.
      const holders = [...this.partWorker.values()];
      if ([...this.busy].every((w) => holders.includes(w))) this.settle.reject(this.failure);
      return;
    }
    if (this.partsWritten === this.parts.length && this.walWritten === this.wal.length) this.settle.resolve();
  }
}

/** Parts and WAL files mixed evenly, so both finish near the same time. */
function interleave(parts: number, wal: number): Job[] {
  const out: Job[] = [];
  let p = 0;
  let w = 0;
  while (p < parts || w < wal) {
    // Take whichever is behind its share of the total.
    if (w >= wal || (p < parts && p / parts <= w / wal)) out.push({ kind: 'part', index: p++ });
    else out.push({ kind: 'wal', id: w++ });
  }
  return out;
}

async function partRequest(
  repo: Repository,
  pointId: string,
  part: PartRecord,
  index: number,
): Promise<ExtractRequest> {
  const sealed = await repo.storage.get(part.key);
  if (sealed.length !== part.sealedBytes) {
    throw new IntegrityError(
      'E_OBJECT_CORRUPT',
      `object ${part.key} has ${sealed.length} bytes, expected ${part.sealedBytes}`,
      {
        hint: 'the object was truncated or replaced; run `safetynet verify --read-data` and restore another point',
        details: { key: part.key, point: pointId },
      },
    );
  }
  const object: SealedObject = {
    key: part.key,
    sealed: transferable(sealed),
    plainBytes: part.plainBytes,
    ...(part.sealedSha256 ? { sealedSha256: part.sealedSha256 } : {}),
    ...(part.plainSha256 ? { plainSha256: part.plainSha256 } : {}),
  };
  return { type: 'part', index, object };
}

async function walRequest(repo: Repository, job: WalFileJob, id: number): Promise<ExtractRequest> {
  const pieces = [];
  try {
    for (const p of job.pieces) {
      const sealed = transferable(await repo.storage.get(p.key));
      pieces.push({ start: p.start, object: { key: p.key, sealed } });
    }
  } catch (err) {
    // The stream closed the segment after we listed it: it stores the whole segment, then deletes
    // the pieces — so the whole segment is there now.
    if (!(err instanceof StorageError && err.code === 'E_OBJECT_MISSING' && job.closedKey)) throw err;
    const sealed = transferable(await repo.storage.get(job.closedKey));
    return {
      type: 'file',
      id,
      path: job.path,
      size: job.size,
      pieces: [{ start: 0, object: { key: job.closedKey, sealed } }],
    };
  }
  return { type: 'file', id, path: job.path, size: job.size, pieces };
}

function transferList(req: ExtractRequest): ArrayBuffer[] {
  if (req.type === 'part') return [req.object.sealed.buffer as ArrayBuffer];
  if (req.type === 'file') return req.pieces.map((p) => p.object.sealed.buffer as ArrayBuffer);
  return [];
}
