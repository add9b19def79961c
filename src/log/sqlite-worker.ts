/**
 * The logger's writer thread (for every store type; the file name is historical). It owns the
 * store connection so the app's event loop never waits for a commit or fsync: the main thread
 * posts batches of encoded rows; this thread drains every batch that has arrived, commits them
 * together in one append (group commit: while one commit is in flight, the next batches queue up
 * and go together), and acknowledges each with the ids it got once the append resolved (durable).
 * Between batches it replays the spool and runs the store's upkeep (the SQLite text index).
 *
 * Protocol (main -> worker): { t: 'append', seq, rows } with rows flat (ROW_STRIDE values each),
 * { t: 'close' }. Worker -> main: { t: 'ready' }, { t: 'ack', acks: Ack[] }, { t: 'notify', text },
 * { t: 'closed' }. The highest acknowledged seq is also stored in a shared Int32Array so the main
 * thread can wait for it synchronously (flush on process exit).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { WriterCore, type WriterCoreOptions } from './writer-core.js';
import { decodeRows, type Ack, type AppendMessage, type WorkerData } from './wire.js';

const MAX_ROWS_PER_COMMIT = 8192;
/**
 * Full-text indexing waits until no batch has arrived for this long, so a burst of writes is not
 * slowed down by tokenising (about as costly as the insert itself); searches cover the
 * not-yet-indexed tail by substring.
 */
const FTS_QUIET_MS = 25;
/**
 * ... but it never lags by more than this many entries (bounds the substring scan searches do over
 * the tail): past it, every commit is followed by an indexing slice, slowing the burst down.
 */
const FTS_MAX_LAG = 1_000_000;

const data = workerData as WorkerData;
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
const core = new WriterCore(options);

/** Batches received but not yet durable (kept in order; retried when store and spool both fail). */
const queue: AppendMessage[] = [];
let closing = false;
let retryTimer: NodeJS.Timeout | undefined;
let idleScheduled = false;
let lastWriteAt = 0;
let idleTimer: NodeJS.Timeout | undefined;

/** Runs scheduleIdle after `ms` (one such timer at a time). */
function idleLater(ms: number): void {
  if (idleTimer) return;
  idleTimer = setTimeout(() => {
    idleTimer = undefined;
    scheduleIdle();
  }, ms);
  idleTimer.unref();
}

port.on('message', (first: AppendMessage | { t: 'close' }) => {
  handle(first);
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
    handle(m.message as AppendMessage);
  // While a retry is due (store and spool both failed), new batches wait for it; a close still
  // gets one attempt at once.
  if (!retryTimer || closing) drain();
});

function handle(msg: AppendMessage | { t: 'close' }): void {
  if (msg.t === 'append') queue.push(msg);
  else if (msg.t === 'close') closing = true;
}

let draining = false;

/** Writes everything queued, in commits of at most MAX_ROWS_PER_COMMIT rows, one commit at a time. */
function drain(): void {
  if (draining) return;
  draining = true;
  drainAsync().then(
    () => {
      draining = false;
      afterDrain();
    },
    (err: unknown) => {
      draining = false;
      port.postMessage({ t: 'notify', text: `safetynet: log writer failed: ${String(err)}` });
      scheduleRetry();
    },
  );
}

async function drainAsync(): Promise<void> {
  while (queue.length > 0) {
    const group: AppendMessage[] = [];
    let rows = 0;
    while (queue.length > 0 && (group.length === 0 || rows + queue[0]!.count <= MAX_ROWS_PER_COMMIT)) {
      const m = queue.shift()!;
      group.push(m);
      rows += m.count;
    }
    const decoded =
      group.length === 1 ? decodeRows(group[0]!.rows) : group.flatMap((m) => decodeRows(m.rows));
    const out = await core.write(decoded);
    lastWriteAt = Date.now();
    if (out.kind === 'failed') {
      // Neither the store nor the spool took them: keep them first in line and try again later.
      queue.unshift(...group);
      scheduleRetry();
      return;
    }
    const acks: Ack[] = [];
    let offset = 0;
    for (const m of group) {
      acks.push(
        out.kind === 'store'
          ? { seq: m.seq, kind: 'store', firstId: out.firstId + offset }
          : { seq: m.seq, kind: 'spool', file: out.file, firstLine: out.firstLine + offset },
      );
      offset += m.count;
    }
    Atomics.store(acked, 0, group[group.length - 1]!.seq);
    Atomics.notify(acked, 0);
    port.postMessage({ t: 'ack', acks });
    if (out.kind === 'store' && core.indexBacklog() >= FTS_MAX_LAG) await core.idle();
    // Batches that arrived while this commit was in flight (the message handler only queues them
    // while a drain runs): pick them up now, so they join the next commit.
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
      handle(m.message as AppendMessage);
  }
}

function afterDrain(): void {
  if (queue.length > 0) {
    if (!retryTimer) drain();
    return;
  }
  if (closing) {
    if (retryTimer) clearTimeout(retryTimer);
    if (idleTimer) clearTimeout(idleTimer);
    void core.close().finally(() => {
      port.postMessage({ t: 'closed' });
      port.close();
    });
    return;
  }
  scheduleIdle();
}

function scheduleRetry(): void {
  if (retryTimer) return;
  retryTimer = setTimeout(
    () => {
      retryTimer = undefined;
      drain();
    },
    Math.max(50, core.retryDelay()),
  );
}

/** Background work while no batch waits: spool replay when due, store upkeep (text index). */
function scheduleIdle(): void {
  if (idleScheduled) return;
  idleScheduled = true;
  setImmediate(() => {
    idleScheduled = false;
    if (closing || draining || queue.length > 0) return;
    void idleStep();
  });
}

async function idleStep(): Promise<void> {
  if (!core.healthy) {
    draining = true;
    await core.idle().finally(() => (draining = false));
    if (queue.length > 0 || closing) return drain();
    // Come back when the next store retry is due, even if nothing is logged meanwhile.
    if (!core.healthy) idleLater(Math.max(50, core.retryDelay()));
    return;
  }
  const quiet = Date.now() - lastWriteAt;
  if (quiet < FTS_QUIET_MS && core.indexBacklog() < FTS_MAX_LAG) {
    idleLater(FTS_QUIET_MS - quiet);
    return;
  }
  draining = true;
  const more = await core.idle().finally(() => (draining = false));
  if (queue.length > 0 || closing) return drain();
  if (more) scheduleIdle();
}

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

// Ready first: opening the store and replaying a large spool may take a while, and batches posted
// meanwhile simply queue up behind it.
port.postMessage({ t: 'ready' });
draining = true;
void core.start().finally(() => {
  draining = false;
  afterDrain();
});
