/**
 * The LogStore interface: what any log store (SQLite, PostgreSQL) offers the logger's writer, the
 * CLI and the admin panel. Every implementation passes the same conformance suite
 * (test/log/store-conformance.ts). The writer (writer-core.ts) uses only this interface, so a new
 * store needs only its own file (and a line in open.ts).
 */
import type { Level, LogEntry, LogFilter, SearchOptions, SearchPage } from '../types.js';

/** One entry to append, already redacted and serialised by the logger. */
export interface AppendRow {
  /** Milliseconds since the epoch (UTC). Kept as given: imports and spool replays keep old times. */
  ts: number;
  level: Level;
  category: string;
  message: string;
  /** The `details` object as JSON text (stored byte-for-byte, so the hash chain covers exactly it). */
  details: string;
  orderId: string | null;
  errorStack: string | null;
  /** Set for raw webhook captures with an event id: the store marks a repeated id as a duplicate. */
  webhook?: { provider: string; eventId: string };
}

/** Marks the spool position an append consumed, committed atomically with the entries. */
export interface SpoolMark {
  /** Spool file name (no folder). */
  file: string;
  /** Byte offset the previous replay of that file reached; the append is refused if it differs. */
  from: number;
  /** Byte offset reached after this append. */
  to: number;
}

/**
 * A spool offset meaning "every entry of this file is stored": a spool file whose mark is this
 * is deleted by replay without reading it (see BatchMark).
 */
export const SPOOL_FILE_STORED = Number.MAX_SAFE_INTEGER;

/**
 * Makes a direct append safe to repeat when its outcome is unknown (the connection died after
 * COMMIT was sent: the server may have committed). The append records, in its own transaction,
 * that spool file `file` is wholly stored (SPOOL_FILE_STORED); the writer, not knowing whether
 * the batch went in, writes it to exactly that spool file, and replaying finds it stored already
 * when it was. `forget`: the previous batch's mark, deleted in the same transaction (marks of
 * batches whose answer arrived are never needed again).
 */
export interface BatchMark {
  file: string;
  forget?: string;
}

export interface AppendOptions {
  spoolMark?: SpoolMark;
  /** See BatchMark; the writer passes one when the store's `unsureCommits` capability is set. */
  batchMark?: BatchMark;
  /**
   * The caller (the writer) keeps a deferred text index caught up through `maintain()`, so the
   * append may leave it behind. Without it, what was appended is searchable by text at once.
   */
  deferIndex?: boolean;
  /**
   * Chain links computed ahead by another thread on the assumption of a chain state (see
   * chain-ahead.ts). A store may use them for the rows they fit (same first id, same heads,
   * same details hashed) and computes the rest itself; stores that cannot ignore them.
   */
  ahead?: ChainAhead;
  /** Report the chain state after the append in the result (`chain`), when the store can. */
  reportChain?: boolean;
}

/** The newest link of one category's chain. */
export interface ChainHead {
  category: string;
  seq: number;
  /** Hex SHA-256. */
  hash: string;
}

/** Chain links of rows to append, computed before the append (AppendOptions.ahead). */
export interface ChainAhead {
  /** The id the first row was assumed to get. */
  firstId: number;
  /** Each category those rows touch, with the head it was assumed to have before them (seq 0 and 64 zeros: a new chain). */
  start: ChainHead[];
  /**
   * The hashes of the first rows (all of them, or the leading ones the helper had done), 64 hex
   * characters each, in row order.
   */
  hashes: string;
}

/** Raised by `append` when another process already replayed that spool range (nothing stored). */
export class SpoolMarkConflict extends Error {}

/** What `append` assigned: ids are consecutive in append order. */
export interface AppendResult {
  firstId: number;
  count: number;
  /**
   * With `reportChain`, from a store that can: the chain state after the append (every
   * category's head and the next id) and how many rows took their link from `ahead`.
   */
  chain?: { nextId: number; heads: ChainHead[]; usedAhead: number };
}

/** Retention as cutoffs: entries older than their category's cutoff are deleted. */
export interface PruneOptions {
  /** Entries of this category with a timestamp before the cutoff (ms) are deleted. */
  cutoffs: Record<string, number>;
  /** Cutoff for categories not named in `cutoffs`. */
  defaultCutoff: number;
  /** Count what would be deleted; delete nothing. */
  dryRun?: boolean;
  /** Rows per delete transaction (bounded so a concurrent writer never waits long). */
  batchSize?: number;
  /** Pause between delete transactions, ms, so waiting writers get the lock. */
  pauseMs?: number;
  /**
   * Also rewrite the full-text index without the deleted entries (slow; some steps hold the write
   * lock for seconds on a large store, so writers wait or spool meanwhile). Default false.
   */
  compactTextIndex?: boolean;
}

export interface PruneCategoryReport {
  /** ISO time: entries before it were (or would be) deleted. */
  cutoff: string;
  deleted: number;
}

export interface PruneReport {
  dryRun: boolean;
  /** Every category present in the store, with its cutoff and deleted count. */
  categories: Record<string, PruneCategoryReport>;
  total: number;
  batches: number;
  /** Longest single delete (or index maintenance) transaction, ms, including waiting for the lock. */
  longestBatchMs: number;
}

export interface ChainBreak {
  /** The first entry that fails verification, or null when entries are missing at a category's end. */
  id: string | null;
  category: string;
  timestamp: string | null;
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Entries checked. */
  checked: number;
  /** Categories (chains) checked. */
  chains: number;
  firstBroken?: ChainBreak;
}

export interface StoreCapabilities {
  /** Text search uses a full-text index (otherwise a substring scan). */
  fullText: boolean;
  /**
   * Keeps one chain per (writer, category) with a registry of writers (PostgreSQL), so writers
   * never wait for each other; stores without it hold writer 0's per-category chains only.
   */
  writerChains?: boolean;
  /**
   * Several processes may append to one store and still form verifiable chains (one per category,
   * or one per writer and category where `writerChains`).
   */
  multiProcess: boolean;
  /** Several hosts may write to the store (a server database rather than a local file). */
  multiHost: boolean;
  /**
   * An append that failed may still have committed (a server whose answer to COMMIT was lost):
   * the writer then gives every direct append a BatchMark, so a batch it spools after such a
   * failure is never stored twice. An in-process store (SQLite) knows its outcome and needs none.
   */
  unsureCommits?: boolean;
  /**
   * A database server does the commit work (storing, indexing, syncing) in its own processes; the
   * writer thread only formats and sends. The logger's writer thread then runs at a lower
   * priority (see sqlite-worker.ts): its CPU is not what limits durability, and the app's event
   * loop gets the CPU first.
   */
  serverCommits?: boolean;
}

/** One stored entry with its chain fields, as `logs copy` moves it between stores. */
export interface RawEntry {
  /** The writer whose chain holds it; absent or 0: the per-category chains (v1 links). */
  writer?: number;
  id: number;
  ts: number;
  level: Level;
  category: string;
  message: string;
  details: string;
  orderId: string | null;
  errorStack: string | null;
  seq: number;
  /** Hex SHA-256 chain hash. */
  hash: string;
}

/** The chain bookkeeping besides the entries: heads, runs removed by retention, webhook event ids. */
export interface ChainState {
  /** `writer` absent or 0: a per-category chain (v1); otherwise that writer's chain of the category. */
  heads: { writer?: number; category: string; seq: number; hash: string }[];
  pruned: {
    writer?: number;
    category: string;
    fromSeq: number;
    toSeq: number;
    lastHash: string;
    count: number;
    prunedAt: number;
  }[];
  webhooks: { provider: string; eventId: string; firstId: number }[];
  /** The writer registry (a hash chain of its own, ids from 1), for stores with writer chains. */
  writers?: WriterRecord[];
}

/** One registered writer (see chain.ts, writerHash). */
export interface WriterRecord {
  id: number;
  registeredAt: number;
  prevHash: string;
  hash: string;
}

/** How `countByLevel` may bound its work. */
export interface CountOptions {
  /** Stop after examining about this many matching entries; the counts are then lower bounds. */
  limit?: number;
}

/** Entries per level for a filter. */
export interface LevelCounts {
  counts: Record<Level, number>;
  /** True when counting stopped at `limit`: each count is a lower bound ("at least"). */
  partial: boolean;
}

/** A durable, searchable, hash-chained log store. */
export interface LogStore {
  readonly kind: string;
  readonly capabilities: StoreCapabilities;
  /** Appends entries durably (committed and fsync'd when the promise resolves), extending the hash chains. */
  append(rows: AppendRow[], options?: AppendOptions): Promise<AppendResult>;
  /** Newest first, keyset-paginated. */
  search(filter: LogFilter, options?: SearchOptions): Promise<SearchPage>;
  /**
   * Entries per level for the filter (all four levels present, zero when none). Exact without a
   * `limit`; with one, a store may stop early and say so (`partial`), each count then a lower bound.
   */
  countByLevel(filter: LogFilter, options?: CountOptions): Promise<LevelCounts>;
  get(id: string): Promise<LogEntry | undefined>;
  /** Recomputes every hash chain; reports the first broken entry. */
  verifyChain(): Promise<VerifyReport>;
  /** Deletes (or counts) expired entries in bounded batches, recording where each chain now starts. */
  prune(options: PruneOptions): Promise<PruneReport>;
  /** The categories that have entries (or had, before pruning). */
  categories(): Promise<string[]>;
  /** Byte offset up to which a spool file has been replayed into this store (0 when never). */
  spoolOffset(file: string): Promise<number>;
  /** Forgets a spool file's replay offset once the file is gone. */
  forgetSpool(file: string): Promise<void>;
  /**
   * Background upkeep the writer runs when no batch waits (e.g. filling a deferred text index),
   * at most about `budgetRows` rows of work. Resolves true when more work remains.
   */
  maintain(budgetRows: number): Promise<boolean>;
  /** Committed entries not yet searchable through the text index (cheap; 0 when indexed on commit). */
  indexBacklog(): number;
  /** Up to `limit` entries with id above `afterId`, in id order, with their chain fields. */
  readRaw(afterId: number, limit: number): Promise<RawEntry[]>;
  /** The chain bookkeeping (see ChainState). */
  chainState(): Promise<ChainState>;
  /**
   * Writes entries exactly as given (ids, seqs, hashes kept), then, when `state` is given, the
   * chain bookkeeping; refuses when the store already has entries with those ids. For `logs copy`.
   */
  writeRaw(rows: RawEntry[], state?: ChainState): Promise<void>;
  close(): Promise<void>;
}
