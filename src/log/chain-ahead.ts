/**
 * Chain links computed ahead, on a thread of their own, while the writer inserts.
 *
 * Hashing each entry's chain link (chain.ts) cost the writer thread about 1.2 µs of the ~3.5 µs it
 * spent per entry during a burst (measured over 1M entries: writer CPU 3.2-3.6 s with the real
 * hash, 2.3 s with a constant; the rest of the difference is the garbage the link text leaves).
 * A link depends on the previous link of its category and on the id and position the store
 * assigns, so it cannot be computed before the append in general; but while this process is the
 * only one writing, those are predictable: the helper thread keeps its own copy of the chain
 * state, hashes each hand-off in order as it arrives, and the writer passes the links to the
 * store with the state they assumed (AppendOptions.ahead). The store uses them only where that
 * state is the one it finds in its transaction; anything else (another process appended, a spool
 * replay, a repeated webhook whose details the store marks) is computed by the store as before,
 * and the writer sends the helper the state it must continue from. The links stored are the same
 * bytes either way: the helper runs the same linkHashOf on the same fields.
 *
 * The writer never waits for the helper: hand-offs whose links are not there yet are hashed by
 * the store. The helper holds at most AHEAD_WINDOW entries not yet stored.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { GENESIS_HASH, linkHashOf } from './chain.js';
import { readOverflowBatches } from './overflow.js';
import { LEVELS } from './types.js';
import { META_STRIDE, type WireBatch } from './wire.js';
import type { ChainAhead, ChainHead } from './store/types.js';

/** Entries handed to the helper and not yet stored, at most (two of the writer's commits). */
export const AHEAD_WINDOW = 65_536;

/** One hand-off as the helper gets it: its rows, or the place of its overflow record. */
export type AheadItem =
  | { seq: number; count: number; batch: WireBatch }
  | { seq: number; count: number; file: string; from: number; to: number };

/** Writer -> helper. */
export type ToHelper =
  /** The chain state after hand-off `at` (0: before any): hash everything after it from there. */
  | { t: 'state'; gen: number; at: number; nextId: number; heads: ChainHead[] }
  | { t: 'item'; item: AheadItem }
  /** Hand-offs up to `upTo` are stored: forget them. */
  | { t: 'stored'; upTo: number };

/** Helper -> writer: the links of one hand-off, computed from state generation `gen`. */
export interface AheadResult extends ChainAhead {
  t: 'ahead';
  seq: number;
  gen: number;
  count: number;
}

/**
 * The helper's work, kept apart from the thread so it can be tested as it is: applies messages
 * and returns the results to send.
 */
export class AheadComputer {
  private gen = 0;
  private nextId = 0;
  private heads = new Map<string, { seq: number; hash: string }>();
  private hasState = false;
  /** Hand-offs received and not yet stored, in seq order, and whether they were hashed. */
  private readonly items: AheadItem[] = [];
  private hashedUpTo = 0;

  constructor(private readonly overflowDir: string) {}

  /** Takes in a message; hashPending() then does the work (after every message waiting is in). */
  apply(msg: ToHelper): void {
    if (msg.t === 'stored') {
      while (this.items.length > 0 && this.items[0]!.seq <= msg.upTo) this.items.shift();
    } else if (msg.t === 'item') {
      this.items.push(msg.item);
    } else {
      this.gen = msg.gen;
      this.nextId = msg.nextId;
      this.heads = new Map(msg.heads.map((h) => [h.category, { seq: h.seq, hash: h.hash }]));
      this.hasState = true;
      while (this.items.length > 0 && this.items[0]!.seq <= msg.at) this.items.shift();
      this.hashedUpTo = msg.at;
    }
  }

  /**
   * Hashes, in order, the hand-offs after the last one hashed from the current state; `emit` gets
   * each. `poll` runs after each one: it may apply newer messages (the thread passes everything
   * that arrived meanwhile), so a new state stops hashing from the old one at once.
   */
  hashPending(emit: (r: AheadResult) => void, poll?: () => void): void {
    for (;;) {
      if (!this.hasState) return;
      const item = this.items.find((i) => i.seq > this.hashedUpTo);
      if (!item) return;
      const r = this.hash(item);
      if (!r) return; // its rows cannot be read: nothing after it can be predicted either
      emit(r);
      this.hashedUpTo = item.seq;
      poll?.();
    }
  }

  private hash(item: AheadItem): AheadResult | undefined {
    let batches: WireBatch[];
    try {
      batches =
        'batch' in item ? [item.batch] : readOverflowBatches(this.overflowDir, item.file, item.from, item.to);
    } catch {
      return undefined;
    }
    const firstId = this.nextId;
    const start: ChainHead[] = [];
    const parts: string[] = [];
    for (const b of batches) this.hashBatch(b, start, parts);
    return {
      t: 'ahead',
      seq: item.seq,
      gen: this.gen,
      count: parts.length,
      firstId,
      start,
      hashes: parts.join(''),
    };
  }

  /**
   * Hashes the rows of a batch straight from its columns (wire.ts), as decodeBatch would cut
   * them, without making a row object for each: this thread's garbage is its own cost.
   */
  private hashBatch(b: WireBatch, start: ChainHead[], parts: string[]): void {
    const { ts, meta, text } = b;
    let o = 0;
    let id = this.nextId;
    for (let r = 0, m = 0; r < b.count; r++, m += META_STRIDE) {
      const category = text.slice(o, (o += meta[m + 1]!));
      const message = text.slice(o, (o += meta[m + 2]!));
      const details = text.slice(o, (o += meta[m + 3]!));
      const lo = meta[m + 4]!;
      const orderId = lo < 0 ? null : text.slice(o, (o += lo));
      const ls = meta[m + 5]!;
      const errorStack = ls < 0 ? null : text.slice(o, (o += ls));
      const lp = meta[m + 6]!;
      if (lp >= 0) o += lp + meta[m + 7]!; // webhook provider and event id: not hashed
      let head = this.heads.get(category);
      if (!head) {
        head = { seq: 0, hash: GENESIS_HASH };
        this.heads.set(category, head);
      }
      if (!start.some((s) => s.category === category))
        start.push({ category, seq: head.seq, hash: head.hash });
      const seq = head.seq + 1;
      const h = linkHashOf(
        head.hash,
        id,
        seq,
        ts[r]!,
        LEVELS[meta[m]!] ?? `level ${meta[m]!}`,
        category,
        message,
        details,
        orderId,
        errorStack,
      );
      parts.push(h);
      head.seq = seq;
      head.hash = h;
      id++;
    }
    this.nextId = id;
  }
}

/**
 * The writer's side: hands the helper what it may hash ahead, collects its results, and merges
 * them for a commit. Without a helper thread (it could not start, or died) every method is a
 * no-op and the store hashes everything itself.
 */
export class ChainAheadClient {
  /** The channel to the helper (once started). */
  private port: MessagePort | undefined;
  private gen = 0;
  /** The helper has a state to hash from (set by the first append that reports one). */
  private started = false;
  private readonly results = new Map<number, AheadResult>();
  /** Hand-offs handed to the helper and not yet stored: seq -> entries. */
  private readonly forwarded = new Map<number, number>();
  private forwardedEntries = 0;
  private lastForwarded = 0;
  private lastStored = 0;
  private dead = false;

  private worker: Worker | undefined;

  /**
   * `spawn` starts the helper thread with the other end of the channel it gets. It is started
   * with the first append whose store reports its chain state (a store that does not, like
   * PostgreSQL, never needs it).
   */
  constructor(private readonly spawn: (port: MessagePort) => Worker | undefined) {}

  /** Starts the helper thread; false when it cannot run. */
  private startThread(): boolean {
    if (this.worker) return true;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    // Results are read between commits (collect()), never from the event loop.
    this.port.unref();
    let worker: Worker | undefined;
    try {
      worker = this.spawn(port2);
    } catch {
      worker = undefined;
    }
    if (!worker) {
      this.dead = true;
      return false;
    }
    worker.on('error', () => (this.dead = true));
    worker.on('exit', () => (this.dead = true));
    worker.unref();
    this.worker = worker;
    return true;
  }

  /**
   * Offers hand-offs in queue order; those past the window, or before the helper has a state,
   * are offered again after the next commit (the caller passes the whole queue).
   */
  offer(items: Iterable<AheadItem>): void {
    if (this.dead || !this.started) return;
    for (const item of items) {
      if (item.seq <= this.lastForwarded) continue;
      if (this.forwardedEntries + item.count > AHEAD_WINDOW && this.forwardedEntries > 0) return;
      this.forwarded.set(item.seq, item.count);
      this.forwardedEntries += item.count;
      this.lastForwarded = item.seq;
      this.send({ t: 'item', item });
    }
  }

  /**
   * The links for a commit of these hand-offs, as far as the helper has them: those of the
   * leading hand-offs whose results are in, in one piece (the store hashes the rest itself).
   */
  take(seqs: number[]): ChainAhead | undefined {
    if (this.dead || !this.started) return undefined;
    this.collect();
    const parts: AheadResult[] = [];
    for (const seq of seqs) {
      const r = this.results.get(seq);
      if (!r || r.gen !== this.gen) break;
      const prev = parts[parts.length - 1];
      if (prev && r.firstId !== prev.firstId + prev.count) break;
      parts.push(r);
    }
    if (parts.length === 0) return undefined;
    const start: ChainHead[] = [];
    const seen = new Set<string>();
    for (const p of parts)
      for (const s of p.start)
        if (!seen.has(s.category)) {
          seen.add(s.category);
          start.push(s);
        }
    return {
      firstId: parts[0]!.firstId,
      start,
      hashes: parts.length === 1 ? parts[0]!.hashes : parts.map((p) => p.hashes).join(''),
    };
  }

  /**
   * After a commit of the hand-offs `seqs` (the last is `lastSeq`): `chain` is the state the
   * store reported (when it can), with how many rows took a link computed ahead; `aheadRows` is
   * how many rows had one (0: none was passed; fewer than the commit's rows when the helper was
   * late, and the store hashed the rest). The helper is told to forget what is stored, and is
   * given the state again when its prediction did not hold (or it has none yet). When it was
   * late it goes on from its own state: it hashes what the store hashed too, but a state sent
   * each time would keep it behind the writer for good (measured: its links then covered 15 %
   * of a 1M burst instead of 50 %).
   */
  stored(
    lastSeq: number,
    seqs: number[],
    chain: { nextId: number; heads: ChainHead[]; usedAhead: number } | undefined,
    aheadRows: number,
  ): void {
    if (this.dead) return;
    this.lastStored = lastSeq;
    for (const seq of seqs) {
      this.results.delete(seq);
      const n = this.forwarded.get(seq);
      if (n !== undefined) {
        this.forwarded.delete(seq);
        this.forwardedEntries -= n;
      }
    }
    if (!chain) return;
    if (!this.started || (aheadRows > 0 && chain.usedAhead < aheadRows)) {
      if (!this.startThread()) return;
      this.started = true;
      this.gen++;
      for (const seq of [...this.results.keys()]) if (seq <= lastSeq) this.results.delete(seq);
      this.send({ t: 'state', gen: this.gen, at: lastSeq, nextId: chain.nextId, heads: chain.heads });
      // What was forwarded after lastSeq is still with the helper and gets hashed again.
    } else this.send({ t: 'stored', upTo: lastSeq });
  }

  private collect(): void {
    if (!this.port) return;
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const r = m.message as AheadResult;
      // Late results for what the store already hashed itself are dropped.
      if (r.gen === this.gen && r.seq > this.lastStored) this.results.set(r.seq, r);
    }
  }

  private send(msg: ToHelper): void {
    try {
      this.port?.postMessage(msg);
    } catch {
      this.dead = true;
    }
  }

  close(): void {
    this.dead = true;
    this.port?.close();
    void this.worker?.terminate();
  }
}
