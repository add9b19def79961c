/**
 * The writer's loop, the same for the writer thread (sqlite-worker.ts) and the inline writer
 * (sink.ts): hand-offs arrive in order (rows in memory, or the place of an overflow record on
 * disk), are grouped into one append per commit (group commit: while a commit is in flight the
 * next hand-offs queue up and go together), and each is acknowledged once its append resolved.
 * When nothing waits it runs the store's upkeep (the SQLite text index) and retries a store that
 * is down.
 *
 * Rows in memory that the store cannot take go to the spool (writer-core.ts). Overflow records
 * are durable in their file already: when the store cannot take them they stay queued, and every
 * later hand-off waits behind them, so entries are stored in the order they were logged.
 */
import { readOverflowRange } from './overflow.js';
import { decodeBatch, type Ack, type WriterMessage } from './wire.js';
import type { ChainAheadClient } from './chain-ahead.js';
import type { ChainReport, WriterCore } from './writer-core.js';
import type { AppendRow, ChainAhead } from './store/types.js';

/**
 * Rows per commit at most. Bigger transactions write each touched index page to the WAL (and
 * later the database) fewer times: 32,768 rows per commit cost 2.6-2.7 µs of CPU per entry where
 * 8,192 cost 3.1-3.3 (plain inserts with the four indexes, 600,000 entries, same run). A commit of
 * 32,768 rows takes about 0.1 s, which is how long a hand-off that arrives meanwhile waits.
 */
export const MAX_ROWS_PER_COMMIT = 32_768;
/**
 * Full-text indexing waits until no hand-off has arrived for this long, so a burst of writes is
 * not slowed down by tokenising (about as costly as the insert itself); searches cover the
 * not-yet-indexed tail by substring.
 */
const FTS_QUIET_MS = 25;
/**
 * ... but it never lags by more than this many entries (bounds the substring scan searches do over
 * the tail): past it, every commit is followed by an indexing slice, slowing the burst down.
 */
const FTS_MAX_LAG = 1_000_000;

type Handoff = Exclude<WriterMessage, { t: 'close' }>;

export interface WriterLoopOptions {
  /** Receives the acknowledgements of each commit, in order. */
  ack: (acks: Ack[]) => void;
  notify: (text: string) => void;
  /** Where overflow files are (the spool folder). */
  overflowDir: string;
  /** Called between commits to collect hand-offs that arrived meanwhile (the thread's port). */
  pull?: () => void;
  /** Called once the loop has closed the store after a close request. */
  onClosed?: () => void;
  /** Chain links computed ahead on a helper thread (the writer thread has one; see chain-ahead.ts). */
  ahead?: ChainAheadClient;
  /**
   * Background work must not keep the process alive (the inline writer, on the app's own thread).
   * It is then scheduled with unref'd timers: an unref'd setImmediate would not wake an event loop
   * waiting for I/O, so it could wait for ever. The writer thread keeps its loop alive anyway.
   */
  unrefTimers?: boolean;
}

export class WriterLoop {
  private readonly queue: Handoff[] = [];
  private closing = false;
  private closed = false;
  private draining = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleScheduled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastWriteAt = 0;

  constructor(
    private readonly core: WriterCore,
    private readonly options: WriterLoopOptions,
  ) {}

  /** Starts the store (opening it and replaying leftovers may take a while; hand-offs queue). */
  start(): void {
    this.draining = true;
    void this.core.start().finally(() => {
      this.draining = false;
      this.afterDrain();
    });
  }

  /** Queues a hand-off (or the close request); call kick() after a run of them. */
  enqueue(msg: WriterMessage): void {
    if (msg.t === 'close') this.closing = true;
    else this.queue.push(msg);
  }

  /** Starts writing what is queued, unless a retry is due (a close still gets one attempt). */
  kick(): void {
    this.offerAhead();
    if (!this.retryTimer || this.closing) this.drain();
  }

  /** Lets the chain helper hash what is queued (as far as its window goes). */
  private offerAhead(): void {
    const ahead = this.options.ahead;
    if (!ahead) return;
    ahead.offer(
      (function* (queue: Handoff[]) {
        for (const m of queue) {
          if (m.t === 'append') yield { seq: m.seq, count: m.batch.count, batch: m.batch };
          else if (m.t === 'overflow')
            yield { seq: m.seq, count: m.count, file: m.file, from: m.from, to: m.to };
        }
      })(this.queue),
    );
  }

  /** After a commit of `seqs`: tells the chain helper what is stored and lets it go on. */
  /**
   * A group written at the head of the queue: drops it, updates the chain helper, and acknowledges
   * each hand-off — stored ones with their first id (consecutive over the group), the others with
   * what `other` says (at `offset` entries into the group).
   */
  private settle(
    seqs: number[],
    counts: number[],
    out: { kind: 'store'; firstId: number; chain?: ChainReport } | { kind: 'spool' | 'consumed' },
    aheadRows: number,
    other: (seq: number, offset: number) => Ack,
  ): void {
    this.queue.splice(0, seqs.length);
    this.afterCommit(seqs, out.kind === 'store' ? out.chain : undefined, aheadRows);
    const acks: Ack[] = [];
    let offset = 0;
    for (let i = 0; i < seqs.length; i++) {
      acks.push(
        out.kind === 'store'
          ? { seq: seqs[i]!, kind: 'store', firstId: out.firstId + offset }
          : other(seqs[i]!, offset),
      );
      offset += counts[i]!;
    }
    this.options.ack(acks);
  }

  private afterCommit(seqs: number[], chain: ChainReport | undefined, aheadRows: number): void {
    const ahead = this.options.ahead;
    if (!ahead) return;
    ahead.stored(seqs[seqs.length - 1]!, seqs, chain, aheadRows);
    this.offerAhead();
  }

  /**
   * Gives up (a close past its deadline): no more retries or upkeep; closes the store unless a
   * commit is still under way.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.retryTimer = undefined;
    if (!this.draining) void this.core.close().catch(() => {});
  }

  /** True while a hand-off waits or a commit runs. */
  get busy(): boolean {
    return this.draining || this.queue.length > 0;
  }

  /**
   * Removes and returns the hand-offs not yet being written (the inline writer spools them at
   * process exit, when nothing asynchronous runs any more). The one in flight stays.
   */
  takeWaiting(): Handoff[] {
    return this.queue.splice(this.draining ? 1 : 0);
  }

  private drain(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.drainAsync().then(
      () => {
        this.draining = false;
        this.afterDrain();
      },
      (err: unknown) => {
        this.draining = false;
        this.options.notify(`safetynet: log writer failed: ${String(err)}`);
        this.scheduleRetry();
      },
    );
  }

  /** Writes everything queued, one commit at a time; returns early when a write must be retried. */
  private async drainAsync(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.t === 'overflow-done') {
        this.queue.shift();
        await this.core.finishOverflow(head.file);
        continue;
      }
      const ok = head.t === 'append' ? await this.writeMemory() : await this.writeOverflow();
      this.lastWriteAt = Date.now();
      if (!ok) {
        this.scheduleRetry();
        return;
      }
      if (this.core.healthy && this.core.indexBacklog() >= FTS_MAX_LAG) await this.core.idle();
      this.options.pull?.();
      this.offerAhead();
    }
  }

  /** Consecutive in-memory hand-offs up to MAX_ROWS_PER_COMMIT: one write. False: retry later. */
  private async writeMemory(): Promise<boolean> {
    const group: Extract<Handoff, { t: 'append' }>[] = [];
    let rows = 0;
    for (const m of this.queue) {
      if (m.t !== 'append' || (group.length > 0 && rows + m.batch.count > MAX_ROWS_PER_COMMIT)) break;
      group.push(m);
      rows += m.batch.count;
    }
    const decoded: AppendRow[] = [];
    for (const m of group) decodeBatch(m.batch, decoded);
    const seqs = group.map((m) => m.seq);
    const ahead = this.options.ahead?.take(seqs);
    const out = await this.core.write(decoded, ahead);
    if (out.kind === 'failed') return false;
    this.settle(
      seqs,
      group.map((m) => m.batch.count),
      out,
      aheadLinks(ahead),
      (seq, offset) =>
        out.kind === 'spool'
          ? { seq, kind: 'spool', file: out.file, firstLine: out.firstLine + offset }
          : { seq, kind: 'consumed' },
    );
    return true;
  }

  /**
   * Consecutive overflow records of one file (contiguous byte ranges) up to MAX_ROWS_PER_COMMIT:
   * read back and stored with the file's replay mark. False: the store is down, retry later.
   */
  private async writeOverflow(): Promise<boolean> {
    const first = this.queue[0] as Extract<Handoff, { t: 'overflow' }>;
    const group: Extract<Handoff, { t: 'overflow' }>[] = [];
    let rows = 0;
    let to = first.from;
    for (const m of this.queue) {
      if (m.t !== 'overflow' || m.file !== first.file || m.from !== to) break;
      if (group.length > 0 && rows + m.count > MAX_ROWS_PER_COMMIT) break;
      group.push(m);
      rows += m.count;
      to = m.to;
    }
    let decoded: AppendRow[];
    try {
      decoded = readOverflowRange(this.options.overflowDir, first.file, first.from, to);
    } catch (err) {
      // The file vanished or was damaged under us: nothing can bring these entries back; say so
      // and go on rather than stall every later entry behind them.
      this.options.notify(
        `safetynet: cannot read ${rows} log entries back from overflow file ${first.file}: ${String(err)}`,
      );
      this.queue.splice(0, group.length);
      this.options.ack(group.map((m) => ({ seq: m.seq, kind: 'consumed' })));
      return true;
    }
    const seqs = group.map((m) => m.seq);
    const ahead = this.options.ahead?.take(seqs);
    const out = await this.core.writeOverflow(first.file, first.from, to, decoded, ahead);
    if (out.kind === 'failed') return false;
    this.settle(
      seqs,
      group.map((m) => m.count),
      out,
      aheadLinks(ahead),
      (seq) => ({ seq, kind: 'consumed' }),
    );
    return true;
  }

  private afterDrain(): void {
    if (this.queue.length > 0) {
      if (!this.retryTimer) this.drain();
      return;
    }
    if (this.closing) {
      if (this.closed) return;
      this.closed = true;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      if (this.idleTimer) clearTimeout(this.idleTimer);
      void this.core.close().finally(() => this.options.onClosed?.());
      return;
    }
    this.scheduleIdle();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.drain();
      },
      Math.max(50, this.core.retryDelay()),
    );
  }

  /** Runs scheduleIdle after `ms` (one such timer at a time). */
  private idleLater(ms: number): void {
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.scheduleIdle();
    }, ms);
    if (this.options.unrefTimers) this.idleTimer.unref();
  }

  /** Background work while no hand-off waits: spool replay when due, store upkeep (text index). */
  private scheduleIdle(): void {
    if (this.idleScheduled || this.closed) return;
    this.idleScheduled = true;
    const run = (): void => {
      this.idleScheduled = false;
      if (this.closing || this.draining || this.queue.length > 0) return;
      void this.idleStep();
    };
    if (this.options.unrefTimers) setTimeout(run, 0).unref();
    else setImmediate(run);
  }

  private async idleStep(): Promise<void> {
    if (!this.core.healthy) {
      this.draining = true;
      await this.core.idle().finally(() => (this.draining = false));
      if (this.queue.length > 0 || this.closing) return this.drain();
      // Come back when the next store retry is due, even if nothing is logged meanwhile.
      if (!this.core.healthy) this.idleLater(Math.max(50, this.core.retryDelay()));
      return;
    }
    const quiet = Date.now() - this.lastWriteAt;
    if (quiet < FTS_QUIET_MS && this.core.indexBacklog() < FTS_MAX_LAG) {
      this.idleLater(FTS_QUIET_MS - quiet);
      return;
    }
    this.draining = true;
    const more = await this.core.idle().finally(() => (this.draining = false));
    if (this.queue.length > 0 || this.closing) return this.drain();
    if (more) this.scheduleIdle();
    // The upkeep failed and the store was closed: come back when the retry is due, or the index
    // would stay behind until something is logged again.
    else if (!this.core.healthy) this.idleLater(Math.max(50, this.core.retryDelay()));
  }
}

/** How many rows links computed ahead cover (0: none were passed). */
function aheadLinks(ahead: ChainAhead | undefined): number {
  return ahead ? ahead.hashes.length / 64 : 0;
}
