/**
 * Building a data directory from a base backup and WAL on every core, with the main thread moving
 * sealed bytes only. Worker threads (extract-worker.ts, one per core) each take a sealed part,
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
  const count = Math.max(1, Math.min(opts.workers ?? availableParallelism(), parts.length + wal.length));
  const jobs = interleave(parts.length, wal.length);
  const t0 = performance.now();
  const times: ExtractTimes = { baseMs: 0, walMs: 0 };
  const workers = Array.from(
    { length: count },
    () => new Worker(workerUrl(import.meta.url, 'extract-worker'), { workerData: init }),
  );
  const busy = new Set<Worker>();
  // Fetches run ahead of the workers in job order: a few sealed objects wait in memory.
  const ahead = count * 2 + 2;
  const loaded: Loaded[] = [];
  let nextToLoad = 0;
  const partWorker = new Map<number, Worker>();
  let state: TarState | null = initialTarState();
  let stateIndex = 0;
  let partsWritten = 0;
  let walWritten = 0;
  let failure: unknown;

  const load = () => {
    while (failure === undefined && nextToLoad < jobs.length && loaded.length < ahead) {
      const job = jobs[nextToLoad++]!;
      const request =
        job.kind === 'part'
          ? partRequest(repo, pointId, parts[job.index]!, job.index)
          : walRequest(repo, wal[job.id]!, job.id);
      request.catch(() => {});
      loaded.push({ job, request });
    }
  };

  try {
    await new Promise<void>((resolve, reject) => {
      let dispatching = false;
      const finishIfDone = () => {
        if (failure !== undefined) {
          // Settle once no worker is between opening a file and closing it: the ones still busy
          // only hold a part waiting for a state that will not come.
          if ([...busy].every((w) => [...partWorker.values()].includes(w))) reject(failure);
          return;
        }
        if (partsWritten === parts.length && walWritten === wal.length) resolve();
      };
      const fail = (err: unknown) => {
        failure ??= err;
        finishIfDone();
      };
      const sendState = () => {
        const w = partWorker.get(stateIndex);
        if (!w || !state || failure !== undefined) return;
        w.postMessage({ type: 'state', index: stateIndex, state } satisfies ExtractRequest);
        state = null; // until that part's reader reports the next one
      };
      // Hands the next loaded job to an idle worker, in job order.
      const dispatch = async () => {
        if (dispatching) return;
        dispatching = true;
        try {
          while (failure === undefined && loaded.length) {
            const idle = workers.find((w) => !busy.has(w));
            if (!idle) break;
            const { job, request } = loaded[0]!;
            const req = await request;
            loaded.shift();
            load();
            busy.add(idle);
            const transfer = transferList(req);
            idle.postMessage(req, transfer);
            if (job.kind === 'part') {
              partWorker.set(job.index, idle);
              if (job.index === stateIndex) sendState();
            }
          }
        } catch (err) {
          fail(err);
        } finally {
          dispatching = false;
        }
      };
      for (const w of workers) {
        w.on('message', (res: ExtractResponse) => {
          if (res.type === 'parsed') {
            partWorker.delete(res.index);
            state = res.state;
            stateIndex = res.index + 1;
            sendState();
            return;
          }
          busy.delete(w);
          if (res.type === 'error') fail(deserializeError(res.error));
          else if (res.type === 'written') {
            if (++partsWritten === parts.length) times.baseMs = performance.now() - t0;
          } else if (++walWritten === wal.length) times.walMs = performance.now() - t0;
          finishIfDone();
          void dispatch();
        });
        w.on('error', (err) => {
          busy.delete(w);
          fail(
            new SafetynetError('E_EXTRACT_WORKER', `a restore worker thread failed: ${err.message}`, {
              cause: err,
            }),
          );
        });
      }
      opts.signal?.addEventListener('abort', () => fail(opts.signal!.reason ?? new Error('aborted')), {
        once: true,
      });
      load();
      if (parts.length === 0 && wal.length === 0) resolve();
      void dispatch();
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (parts.length) checkTarEnd(state ?? initialTarState());
  return times;
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
