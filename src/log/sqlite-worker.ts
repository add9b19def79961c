/**
 * The logger's writer thread (for every store type; the file name is historical). It owns the
 * store connection so the app's event loop never waits for a commit or fsync: the main thread
 * posts hand-offs (wire.ts: encoded rows, or the place of an overflow record on disk); the writer
 * loop (writer-loop.ts) commits what has arrived in one append and acknowledges each hand-off with
 * the ids it got once the append resolved (durable).
 *
 * Protocol (main -> worker): WriterMessage (wire.ts). Worker -> main: { t: 'ready' },
 * { t: 'ack', acks: Ack[] }, { t: 'notify', text }, { t: 'closed' }. The highest acknowledged seq
 * is also stored in a shared Int32Array so the main thread can wait for it synchronously (flush on
 * process exit).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { ChainAheadClient } from './chain-ahead.js';
import { lowerThreadPriority, spawnLogThread } from './spawn-thread.js';
import { storeCapabilities } from './store/open.js';
import { writeSync } from 'node:fs';
import { WriterCore, type WriterCoreOptions } from './writer-core.js';
import { WriterLoop } from './writer-loop.js';
import type { Ack, WorkerData, WriterMessage } from './wire.js';

/**
 * Nice levels below the app's threads (see lowerThreadPriority). With a store whose server does
 * the commit work (StoreCapabilities.serverCommits) the writer only formats and sends, and yields
 * more: 1M entries from 4 processes into PostgreSQL on 2 cores (bench/log/pg-ingest.ts) spent
 * 0.41x pino's event-loop time per call at +10 against 0.54-0.61x at +5, and were stored as
 * fast. A SQLite writer does the storing itself: at +10 the same burst was stored in 1.01x pino's
 * time against 0.93x at +5 (bench/log/ingest.ts).
 */
const WRITER_NICE = 5;
const WRITER_NICE_SERVER_COMMITS = 10;

const data = workerData as WorkerData;
lowerThreadPriority(storeCapabilities(data.store).serverCommits ? WRITER_NICE_SERVER_COMMITS : WRITER_NICE);
const port = parentPort!;
const acked = new Int32Array(data.ackBuffer);

const options: WriterCoreOptions = {
  store: data.store,
  spoolDir: data.spoolDir,
  busyTimeoutMs: data.busyTimeoutMs,
  retryMs: data.retryMs,
  processToken: data.processToken,
  notify: (text) => port.postMessage({ t: 'notify', text }),
};
if (data.stdout) options.mirror = writeStdout;

// Chain links are hashed ahead on a helper thread while this one inserts (chain-ahead.ts); if it
// cannot start, the store hashes everything itself.
const ahead = new ChainAheadClient((helperPort) =>
  spawnLogThread('chain-worker', { port: helperPort, overflowDir: data.spoolDir }, [helperPort]),
);

const loop = new WriterLoop(new WriterCore(options), {
  ahead,
  ack(acks: Ack[]) {
    Atomics.store(acked, 0, acks[acks.length - 1]!.seq);
    Atomics.notify(acked, 0);
    port.postMessage({ t: 'ack', acks });
  },
  notify: options.notify,
  overflowDir: data.spoolDir,
  // Hand-offs that arrived while a commit was in flight (the message handler does not run
  // meanwhile): picked up now, so they join the next commit.
  pull: () => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
      loop.enqueue(m.message as WriterMessage);
  },
  onClosed: () => {
    ahead.close();
    port.postMessage({ t: 'closed' });
    port.close();
  },
});

port.on('message', (first: WriterMessage) => {
  loop.enqueue(first);
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
    loop.enqueue(m.message as WriterMessage);
  loop.kick();
});

/** Stdout mirror straight from this thread (fd 1), so the main thread does not pay for it. */
function writeStdout(text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off, buf.length - off);
    } catch (err) {
      // A non-blocking pipe that is full: wait a moment and go on.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

// Ready first: opening the store and replaying a large spool may take a while, and hand-offs
// posted meanwhile simply queue up behind it.
port.postMessage({ t: 'ready' });
loop.start();
