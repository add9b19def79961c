/**
 * The text indexer thread (see sqlite/indexer.ts): steps of syncTextIndex while entries wait,
 * then merge steps (mergeTextStep) while the index has segments to merge, then sleeps until
 * poked (or a second passes: other processes may write the same store). On errors it backs off
 * and reopens; a search file SQLite calls damaged is deleted and rebuilt (it is derived data).
 */
import { workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAILED, POKE, STEPS, STOP, UPTO_OFFSET, waitChange, type IndexerData } from './indexer.js';
import { fileIdentity } from './file-watch.js';
import { removeSearchFile, SearchConnection } from './search-file.js';
import { mergeTextStep, syncTextIndex, TEXT_SLICE_ROWS } from './text-index.js';
import { lowerThreadPriority } from '../../spawn-thread.js';

const IDLE_POLL_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

const data = workerData as IndexerData;
const ctl = new Int32Array(data.control, 0, 4);
const uptoCell = new BigInt64Array(data.control, UPTO_OFFSET, 1);

/**
 * Nice levels below the app's threads: the shop's threads, the log writer (+5) and its chain
 * helper (+15) go first on a busy machine and the index takes the idle time; on a quiet one it
 * still gets a whole core. The lowest level: in a burst of 1M entries on 2 cores (bench/log/
 * ingest.ts, 3 rounds each) +19 stored everything in 1.07x pino's time against 1.32x at +10, and
 * the index was complete as early (1.37x / 1.38x): the index keeps up in larger slices instead
 * of contending with the writer for every commit.
 */
const INDEXER_NICE = 19;

/**
 * The connection, or undefined while the path no longer holds the file the writer opened. A
 * connection opened at a replaced path would read (and on close checkpoint) the old file's WAL
 * frames into the replacement until the writer has rescued its content and removed that WAL
 * (sqlite/file-watch.ts); the writer then closes this store and starts a new indexer.
 */
function open(): SearchConnection | undefined {
  if (!isWritersFile()) return undefined;
  const conn = SearchConnection.open(data.storeFile, {
    busyTimeoutMs: data.busyTimeoutMs,
    storeCacheKiB: 4000,
  });
  if (isWritersFile()) return conn;
  conn.close();
  return undefined;
}

function isWritersFile(): boolean {
  const now = fileIdentity(data.storeFile);
  const want = data.identity;
  return now !== undefined && want !== undefined && now.dev === want.dev && now.ino === want.ino;
}

function damaged(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT_VTAB';
}

async function run(): Promise<void> {
  if (data.lowPriority) lowerThreadPriority(INDEXER_NICE);
  let conn: SearchConnection | undefined;
  let backoff = 0;
  let failures = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    const pokes = Atomics.load(ctl, POKE);
    let indexed: number;
    let merged = false;
    try {
      // The store or search file replaced or deleted under us: follow the search file's path;
      // the store's, only while it is the writer's file (see open()).
      if (conn?.moved()) {
        conn.close();
        conn = undefined;
      }
      conn ??= open();
      if (!conn) {
        await waitChange(ctl, POKE, pokes, IDLE_POLL_MS);
        continue;
      }
      const r = syncTextIndex(conn, TEXT_SLICE_ROWS);
      indexed = r.indexed + r.removed;
      Atomics.store(uptoCell, 0, BigInt(r.upto));
      Atomics.add(ctl, STEPS, 1);
      Atomics.notify(ctl, STEPS);
      backoff = 0;
      failures = 0;
      // Caught up: merge what the indexing steps left unmerged (text-index.ts, PART_CRISIS_MERGE),
      // one short step per turn, so new entries are indexed first.
      if (indexed === 0 && mergeTextStep(conn)) merged = true;
    } catch (err) {
      conn?.close();
      conn = undefined;
      if (damaged(err) && ++failures <= 2) {
        try {
          removeSearchFile(data.storeFile);
        } catch {
          // retried after the backoff
        }
      }
      backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 100);
      await sleep(backoff);
      continue;
    }
    if (indexed > 0 || merged) {
      // Let a stop request in between steps.
      await new Promise<void>((r) => setImmediate(r));
      continue;
    }
    await waitChange(ctl, POKE, pokes, IDLE_POLL_MS);
  }
  conn?.close();
}

run().catch(() => {
  Atomics.store(ctl, FAILED, 1);
  Atomics.notify(ctl, STEPS);
});
