/**
 * The embedded log store: one SQLite file (better-sqlite3) in WAL mode with synchronous=FULL, so
 * a committed entry survives a crash or power loss.
 *
 * The work is synchronous (better-sqlite3 is); the `*Sync` methods are what the logger's writer
 * thread calls, and the LogStore methods wrap them for the main thread (CLI, admin panel). Every
 * append runs in a BEGIN IMMEDIATE transaction that reads the chain heads, so several processes
 * appending to one file still form one chain per category.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../../errors.js';
import { assertValidRows } from '../../entry-check.js';
import { fileChange, fileIdentity, rescueAndFail, type FileIdentity } from './file-watch.js';
import { GENESIS_HASH, linkHashOf } from '../../chain.js';
import {
  LEVEL_RANK,
  type LogEntry,
  type LogFilter,
  type SearchOptions,
  type SearchPage,
} from '../../types.js';
import { type Head, storeError } from './common.js';
import { COLUMNS, type StoredRow, toEntry } from '../stored-row.js';
import { chainState, readRaw, writeRaw } from './raw.js';
import { pruneBatchSync, pruneOldestSync, prune } from './retention.js';
import { hasLegacyTextIndex, migrate } from './schema.js';
import { countByLevelSync } from './counts.js';
import { COMMON_TEXT_MATCHES, searchSync } from './search.js';
import { removeSearchFile, SearchConnection, searchFilePath } from './search-file.js';
import { TextIndexer } from './indexer.js';
import {
  compactTextIndex,
  mergeTextIndex,
  mergeTextStep,
  syncTextIndex,
  TEXT_SLICE_ROWS,
  textBacklog,
  textWorkLeft,
} from './text-index.js';
import { verifySync } from './verify.js';
import { SPOOL_FILE_STORED, SpoolMarkConflict } from '../types.js';
import type {
  AppendOptions,
  AppendResult,
  AppendRow,
  ChainAhead,
  ChainState,
  CountOptions,
  LevelCounts,
  LogStore,
  RawEntry,
  PruneOptions,
  PruneReport,
  StoreCapabilities,
  VerifyReport,
} from '../types.js';

export { isUnavailable } from './common.js';

/**
 * Rows per INSERT statement in an append. Each statement run has a fixed cost on top of its rows
 * (the call into better-sqlite3, binding, step and reset, the result object it builds): 300,000
 * entries in 32,768-entry transactions cost 4.1-4.2 µs of CPU per entry with one row per
 * statement, 3.3-3.5 µs with 32 (16: 3.4-3.6; 64: no better).
 */
const ROWS_PER_INSERT = 32;
/**
 * WAL pages after which a commit also checkpoints (SQLite's default is 1,000, i.e. after almost
 * every large commit of a burst). A checkpoint copies the WAL's pages into the database and
 * fsyncs it, on the committing thread: measured over 1M entries, the writer spent 0.2 s more CPU
 * and 0.1 s more blocked with the default than with none during the burst. With this limit a burst
 * checkpoints about every 256 MiB; otherwise the writer checkpoints when idle (maintain), once at
 * least IDLE_CHECKPOINT_ROWS were appended, so the WAL does not stay large.
 */
const WAL_AUTOCHECKPOINT_PAGES = 65_536;
const IDLE_CHECKPOINT_ROWS = 8192;
/** After a checkpoint the WAL file is cut back to this size (it would otherwise keep its peak). */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export interface SqliteStoreOptions {
  /** How long to wait for another writer's lock before failing, ms (default 5000). */
  busyTimeoutMs?: number;
  /** Open without writing (no schema creation, no WAL switch). */
  readonly?: boolean;
  /** Used for `pruned_at` records. */
  now?: () => number;
  /** Text matches from which a search walks newest-first instead of collecting (tests force each plan). */
  commonTextMatches?: number;
  /**
   * Fill the text index on a thread of its own once at least this many entries wait (default
   * 20,000; Infinity: never, always on the calling thread). See sqlite/indexer.ts.
   */
  indexThreadBacklog?: number;
}

/** See SqliteStoreOptions.indexThreadBacklog. */
const INDEX_THREAD_BACKLOG = 20_000;

export { SpoolMarkConflict } from '../types.js';

/** What the SQLite store can do (see StoreCapabilities). */
export const SQLITE_CAPABILITIES: Readonly<StoreCapabilities> = {
  fullText: true,
  multiProcess: true,
  multiHost: false,
};

export class SqliteLogStore implements LogStore {
  readonly kind = 'sqlite';
  readonly capabilities: StoreCapabilities = SQLITE_CAPABILITIES;
  readonly file: string;
  readonly db: Database.Database;
  /** Used for `pruned_at` records. */
  readonly now: () => number;
  /** See COMMON_TEXT_MATCHES (sqlite/search.ts). */
  readonly commonTextMatches: number;
  private readonly stmts = new Map<string, Database.Statement>();
  private closed = false;
  /** Set once the file was found deleted or replaced and its content rescued (checkFileSync). */
  private rescued: Error | undefined;
  /** The file opened (see sqlite/file-watch.ts). */
  private readonly identity: FileIdentity | undefined;
  private walIdentity: FileIdentity | undefined;
  /** The connection searches and the text index go through (see sqlite/search-file.ts). */
  private searchConn: SearchConnection | undefined;
  /** The background indexer thread, once started (see maintain). */
  private indexer: TextIndexer | undefined;
  private readonly indexThreadBacklog: number;
  private readonly busyTimeoutMs: number;
  /** How far a schema-1 store's own text index reaches (0: none), read once. */
  private readonly legacyUpto: number;
  /** Entries appended since the last idle checkpoint (see checkpointWhenIdle). */
  private appendedSinceCheckpoint = 0;

  private constructor(file: string, db: Database.Database, options: SqliteStoreOptions) {
    this.file = file;
    this.db = db;
    this.identity = fileIdentity(file);
    this.now = options.now ?? Date.now;
    this.commonTextMatches = Math.max(1, Math.floor(options.commonTextMatches ?? COMMON_TEXT_MATCHES));
    this.indexThreadBacklog = options.indexThreadBacklog ?? INDEX_THREAD_BACKLOG;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.legacyUpto = hasLegacyTextIndex(db)
      ? Number(db.prepare("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0)
      : 0;
  }

  /** Opens (creating when needed) the store at `file`. Throws StorageError when it cannot. */
  static open(file: string, options: SqliteStoreOptions = {}): SqliteLogStore {
    const abs = path.resolve(file);
    let db: Database.Database | undefined;
    try {
      if (!options.readonly) {
        mkdirSync(path.dirname(abs), { recursive: true });
        restrictFileMode(abs);
      }
      db = new Database(abs, {
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
        timeout: options.busyTimeoutMs ?? 5000,
      });
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        // Checkpoints are mostly left to idle time (maintain): see WAL_AUTOCHECKPOINT_PAGES.
        db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
        db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
        migrate(db, abs);
      }
      db.pragma('cache_size = -32000');
      db.pragma('temp_store = MEMORY');
      // Keeps the planner's statistics fresh at little cost (bounded analysis).
      db.pragma('analysis_limit = 1000');
      if (!options.readonly) db.pragma('optimize = 0x10002');
      const store = new SqliteLogStore(abs, db, options);
      // A writer creates the search file at once, so readers opened later find it. Appends do not
      // need it: a search file that cannot be opened now never keeps the store from opening.
      if (!options.readonly) {
        try {
          store.searchConnection();
        } catch {
          // searches and the indexer try again when they need it
        }
      }
      return store;
    } catch (err) {
      db?.close();
      if (err instanceof StorageError) throw err;
      throw storeError(abs, 'open', err);
    }
  }

  /** A prepared statement, cached (the store's modules share one cache). */
  stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      if (this.stmts.size > 200) this.stmts.clear();
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  // ---------------------------------------------------------------- append

  /**
   * Appends rows in one IMMEDIATE transaction: assigns consecutive ids, extends each category's
   * hash chain, marks repeated webhook events as duplicates. Durable when it returns.
   */
  appendSync(rows: AppendRow[], options: AppendOptions = {}): AppendResult {
    if (rows.length === 0 && !options.spoolMark) return { firstId: 0, count: 0 };
    assertValidRows(rows);
    this.checkFileSync();
    const getMeta = this.stmt('SELECT value FROM meta WHERE key = ?').pluck();
    const setMeta = this.stmt(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    // The hash goes in as hex and SQLite turns it into the stored bytes (cheaper than a Buffer per row).
    const insert = this.stmt(
      'INSERT INTO logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, unhex(?))',
    );
    const insertMany = this.stmt(
      'INSERT INTO logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash) VALUES ' +
        Array<string>(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, unhex(?))').join(', '),
    );
    const args: unknown[] = new Array<unknown>(ROWS_PER_INSERT * 10);
    let pending = 0;
    const headsStmt = this.stmt('SELECT category, seq, hash FROM chain_heads');
    const putHead = this.stmt(
      'INSERT INTO chain_heads (category, seq, hash) VALUES (?, ?, ?) ON CONFLICT (category) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    );
    const run = (): AppendResult => {
      const mark = options.spoolMark;
      if (mark) {
        const at = Number(getMeta.get(`spool:${mark.file}`) ?? 0);
        if (at !== mark.from) throw new SpoolMarkConflict(`spool ${mark.file} is at ${at}, not ${mark.from}`);
        setMeta.run(`spool:${mark.file}`, mark.to);
      }
      const batch = options.batchMark;
      if (batch && rows.length > 0) {
        setMeta.run(`spool:${batch.file}`, SPOOL_FILE_STORED);
        if (batch.forget) this.forgetSpoolSync(batch.forget);
      }
      const firstId = Number(getMeta.get('next_id') ?? 1);
      const heads = new Map<string, Head>();
      for (const h of headsStmt.all() as { category: string; seq: number; hash: Buffer }[]) {
        heads.set(h.category, { seq: h.seq, hash: h.hash.toString('hex') });
      }
      // Links computed ahead are used while they fit: the state they assumed is this one, and
      // they hashed the details that are stored (a repeated webhook gets other details here).
      const aheadCats = aheadFits(options.ahead, rows.length, firstId, heads);
      const ahead = aheadCats ? options.ahead!.hashes : undefined;
      const stale = new Set<string>();
      let usedAhead = 0;
      const touched = new Set<string>();
      let id = firstId;
      let head: Head | undefined;
      let headOf = '';
      for (const row of rows) {
        const category = row.category;
        // Consecutive entries often share a category: skip the lookup then.
        if (category !== headOf || head === undefined) {
          head = heads.get(category);
          if (!head) {
            head = { seq: 0, hash: GENESIS_HASH };
            heads.set(category, head);
          }
          headOf = category;
          touched.add(category);
          if (aheadCats && !aheadCats.has(category)) stale.add(category);
        }
        const details = row.webhook ? this.webhookDetails(row, id) : row.details;
        const seq = head.seq + 1;
        if (ahead !== undefined && details !== row.details) stale.add(category);
        let h: string;
        const k = (id - firstId) * 64;
        if (ahead !== undefined && k < ahead.length && !stale.has(category)) {
          h = ahead.slice(k, k + 64);
          usedAhead++;
        } else
          h = linkHashOf(
            head.hash,
            id,
            seq,
            row.ts,
            row.level,
            category,
            row.message,
            details,
            row.orderId,
            row.errorStack,
          );
        const o = pending * 10;
        args[o] = id;
        args[o + 1] = row.ts;
        args[o + 2] = LEVEL_RANK[row.level];
        args[o + 3] = category;
        args[o + 4] = row.message;
        args[o + 5] = details;
        args[o + 6] = row.orderId;
        args[o + 7] = row.errorStack;
        args[o + 8] = seq;
        args[o + 9] = h;
        if (++pending === ROWS_PER_INSERT) {
          insertMany.run(...args);
          pending = 0;
        }
        head.seq = seq;
        head.hash = h;
        id++;
      }
      // The last rows, fewer than ROWS_PER_INSERT, one statement each.
      for (let i = 0; i < pending * 10; i += 10) insert.run(args.slice(i, i + 10));
      for (const cat of touched) {
        const h = heads.get(cat)!;
        putHead.run(cat, h.seq, Buffer.from(h.hash, 'hex'));
      }
      setMeta.run('next_id', id);
      this.appendedSinceCheckpoint += rows.length;
      const result: AppendResult = { firstId, count: rows.length };
      if (options.reportChain) {
        const all = [...heads].map(([category, h]) => ({ category, seq: h.seq, hash: h.hash }));
        result.chain = { nextId: id, heads: all, usedAhead };
      }
      return result;
    };
    try {
      return this.db.transaction(run).immediate();
    } catch (err) {
      if (err instanceof SpoolMarkConflict) throw err;
      throw storeError(this.file, 'append to', err);
    }
  }

  /** Records a webhook event id; a repeated one gets `duplicate: true` and the first entry's id. */
  private webhookDetails(row: AppendRow, id: number): string {
    const { provider, eventId } = row.webhook!;
    const first = this.stmt('SELECT first_id FROM webhook_events WHERE provider = ? AND event_id = ?')
      .pluck()
      .get(provider, eventId) as number | undefined;
    if (first === undefined) {
      this.stmt('INSERT INTO webhook_events (provider, event_id, first_id) VALUES (?, ?, ?)').run(
        provider,
        eventId,
        id,
      );
      return row.details;
    }
    try {
      const d = JSON.parse(row.details) as Record<string, unknown>;
      d.duplicate = true;
      d.duplicateOf = String(first);
      return JSON.stringify(d);
    } catch {
      return row.details;
    }
  }

  async append(rows: AppendRow[], options?: AppendOptions): Promise<AppendResult> {
    const r = this.appendSync(rows, options);
    // Callers of the async API expect to find what they appended by text at once; the writer
    // defers it (indexing costs about as much as inserting) and catches up in maintain().
    if (!options?.deferIndex) this.indexTextSync(Number.MAX_SAFE_INTEGER);
    else if (this.indexer?.running) this.indexer.poke();
    else if (this.indexBacklog() >= this.indexThreadBacklog) this.startIndexer();
    return r;
  }

  /**
   * The writer's idle work: the text index. Once at least `indexThreadBacklog` entries wait, a
   * thread of its own fills it (see sqlite/indexer.ts) and this only waits a little for it (up to
   * 25 ms for a small budget, 2 s for a large one) so the writer's loop neither spins nor stalls;
   * otherwise it indexes a slice here, at least TEXT_SLICE_ROWS entries whatever the budget
   * (smaller slices index more slowly). Resolves true while entries remain to index.
   */
  async maintain(budgetRows: number): Promise<boolean> {
    // The store file deleted or replaced: the next append rescues it (sqlite/file-watch.ts); the
    // index waits until then rather than follow the path to whatever is there now.
    if (this.storeMoved()) return false;
    if (!this.indexer?.running && textWorkLeft(this.searchConnection()) >= this.indexThreadBacklog)
      this.startIndexer();
    if (this.indexer?.running) {
      const deadline = Date.now() + (budgetRows > TEXT_SLICE_ROWS ? 2000 : 25);
      const start = this.indexer.upto();
      while (this.indexer.running && Date.now() < deadline) {
        await this.indexer.waitForStep(deadline - Date.now());
        if (this.indexer.upto() - start >= budgetRows || textWorkLeft(this.searchConnection()) === 0) break;
      }
      return this.checkpointUnlessBusy(textWorkLeft(this.searchConnection()) > 0);
    }
    this.indexTextSync(Math.max(budgetRows, TEXT_SLICE_ROWS));
    if (textWorkLeft(this.searchConnection()) > 0) return true;
    // Caught up: one step of the merging indexing defers (sqlite/text-index.ts, PART_CRISIS_MERGE).
    if (this.mergeTextStepSync()) return true;
    return this.checkpointUnlessBusy(false);
  }

  /**
   * One idle merge step of the text index; false when nothing is left to merge, or when it could
   * not run (busy: another process's step; a full disk; anything else): merging only makes
   * searches faster, so a failure never takes the store down. The next idle step tries again.
   */
  private mergeTextStepSync(): boolean {
    try {
      return mergeTextStep(this.searchConnection());
    } catch {
      return false;
    }
  }

  /** Runs the idle checkpoint once the text index has caught up; passes `moreWork` through. */
  private checkpointUnlessBusy(moreWork: boolean): boolean {
    if (!moreWork) this.checkpointWhenIdle();
    return moreWork;
  }

  /**
   * The checkpoint SQLite would have run inside the commits (see WAL_AUTOCHECKPOINT_PAGES), run
   * once the writer has nothing else to do and enough was appended since the last one.
   */
  private checkpointWhenIdle(): void {
    if (this.appendedSinceCheckpoint < IDLE_CHECKPOINT_ROWS) return;
    this.appendedSinceCheckpoint = 0;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // a later one copies these pages; readers never depend on it
    }
  }

  /** True when the file at the store's path is no longer the one this store opened. */
  private storeMoved(): boolean {
    return this.closed || (this.identity !== undefined && fileChange(this.file, this.identity) !== undefined);
  }

  /** Starts the background indexer thread (stays on this thread when one cannot start). */
  private startIndexer(): void {
    if (this.db.readonly || !Number.isFinite(this.indexThreadBacklog)) return;
    if (this.indexer && !this.indexer.running) return; // it failed once: index here from now on
    this.indexer ??= TextIndexer.start(this.file, this.busyTimeoutMs, this.identity);
    this.indexer?.poke();
  }

  /**
   * Committed entries not yet searchable through an index. Cheap (the writer asks after every
   * commit): the background thread's watermark when it runs, else the search file's.
   */
  indexBacklog(): number {
    if (this.storeMoved()) return 0;
    const next = Number(this.stmt("SELECT value FROM meta WHERE key = 'next_id'").pluck().get() ?? 1);
    let upto = this.indexer?.running ? this.indexer.upto() : -1;
    if (upto < 0) {
      const c = this.searchConnection();
      upto = c.attached
        ? Number(c.stmt("SELECT value FROM idx.meta WHERE key = 'upto'").pluck().get() ?? 0)
        : 0;
    }
    return Math.max(0, next - 1 - Math.max(upto, this.legacyUpto));
  }

  // ---------------------------------------------------------------- raw copy (sqlite/raw.ts)

  async readRaw(afterId: number, limit: number): Promise<RawEntry[]> {
    return readRaw(this, afterId, limit);
  }

  async chainState(): Promise<ChainState> {
    return chainState(this);
  }

  async writeRaw(rows: RawEntry[], state?: ChainState): Promise<void> {
    writeRaw(this, rows, state);
  }

  /**
   * The connection searches, counts and the text index use: the store with its search file
   * attached (sqlite/search-file.ts), opened on first use and again when either file was replaced.
   */
  searchConnection(): SearchConnection {
    const c = this.searchConn;
    if (c && !c.moved() && (c.attached || !existsSync(searchFilePath(this.file)))) return c;
    c?.close();
    this.searchConn = undefined;
    // The store file replaced under us: rescue it first (throws). A new connection at the path
    // would read the old file's WAL frames, and checkpoint them into the replacement on close.
    if (!this.db.readonly) this.checkFileSync();
    const open = () =>
      SearchConnection.open(this.file, { readonly: this.db.readonly, busyTimeoutMs: this.busyTimeoutMs });
    try {
      this.searchConn = open();
    } catch (err) {
      // A damaged search file is derived data: start it afresh (a writer only).
      const code = (err as { code?: unknown }).code;
      if (this.db.readonly || (code !== 'SQLITE_NOTADB' && code !== 'SQLITE_CORRUPT'))
        throw storeError(this.file, 'open the search file of', err);
      try {
        removeSearchFile(this.file);
        this.searchConn = open();
      } catch (again) {
        throw storeError(this.file, 'open the search file of', again);
      }
    }
    return this.searchConn;
  }

  /**
   * Brings the text index up to date on this thread, at most `maxRows` entries (in transactions
   * of TEXT_SLICE_ROWS), after applying what retention deleted. Returns how many it indexed.
   */
  indexTextSync(maxRows = TEXT_SLICE_ROWS): number {
    let total = 0;
    const c = this.searchConnection();
    while (total < maxRows) {
      let n: number;
      try {
        n = syncTextIndex(c, Math.min(TEXT_SLICE_ROWS, maxRows - total)).indexed;
      } catch (err) {
        throw storeError(this.file, 'index', err);
      }
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  /** Entries committed but not yet searchable through an index (read in one transaction). */
  ftsBacklog(): number {
    return textBacklog(this.searchConnection());
  }

  // ---------------------------------------------------------------- search (sqlite/search.ts)

  searchSync(filter: LogFilter, options?: SearchOptions): SearchPage {
    return searchSync(this, filter, options);
  }

  async search(filter: LogFilter, options?: SearchOptions): Promise<SearchPage> {
    return this.searchSync(filter, options);
  }

  countByLevelSync(filter: LogFilter, options?: CountOptions): LevelCounts {
    return countByLevelSync(this, filter, options);
  }

  async countByLevel(filter: LogFilter, options?: CountOptions): Promise<LevelCounts> {
    return this.countByLevelSync(filter, options);
  }

  async get(id: string): Promise<LogEntry | undefined> {
    if (!/^\d{1,18}$/.test(id)) return undefined;
    const row = this.stmt(`SELECT ${COLUMNS} FROM logs WHERE id = ?`).get(Number(id)) as
      StoredRow | undefined;
    return row ? toEntry(row) : undefined;
  }

  async categories(): Promise<string[]> {
    return this.stmt('SELECT category FROM chain_heads ORDER BY category').pluck().all() as string[];
  }

  // ---------------------------------------------------------------- verify (sqlite/verify.ts)

  verifySync(): VerifyReport {
    return verifySync(this);
  }

  async verifyChain(): Promise<VerifyReport> {
    return this.verifySync();
  }

  // ---------------------------------------------------------------- retention (sqlite/retention.ts)

  async prune(options: PruneOptions): Promise<PruneReport> {
    return prune(this, options);
  }

  /** See mergeTextIndex (sqlite/text-index.ts). */
  async mergeTextIndex(pauseMs?: number, pagesPerStep?: number, maxSteps?: number): Promise<number> {
    return mergeTextIndex(this.searchConnection(), pauseMs, pagesPerStep, maxSteps);
  }

  /** See compactTextIndex (sqlite/text-index.ts). */
  async compactTextIndex(pauseMs?: number, pagesPerStep?: number, maxSteps?: number): Promise<number> {
    return compactTextIndex(this.searchConnection(), pauseMs, pagesPerStep, maxSteps);
  }

  /** Deletes up to `limit` entries of `category` older than `cutoff` in one transaction. */
  pruneBatchSync(category: string, cutoff: number, limit: number): number {
    return pruneBatchSync(this, category, cutoff, limit);
  }

  /** Deletes up to `limit` of the oldest entries (any category) older than `cutoff`; counts per category. */
  pruneOldestSync(cutoff: number, limit: number): Map<string, number> {
    return pruneOldestSync(this, cutoff, limit);
  }

  // ---------------------------------------------------------------- spool bookkeeping

  spoolOffsetSync(file: string): number {
    return Number(this.stmt('SELECT value FROM meta WHERE key = ?').pluck().get(`spool:${file}`) ?? 0);
  }

  async spoolOffset(file: string): Promise<number> {
    return this.spoolOffsetSync(file);
  }

  forgetSpoolSync(file: string): void {
    this.stmt('DELETE FROM meta WHERE key = ?').run(`spool:${file}`);
  }

  async forgetSpool(file: string): Promise<void> {
    this.forgetSpoolSync(file);
  }

  /**
   * Fails (after rescuing the content) when the file was deleted or replaced since it was opened.
   * The rescue's error is kept and thrown again by every later check: whichever call found the
   * change (an append, or a search or upkeep whose caller may swallow errors), the writer's next
   * append still learns what happened and records it.
   */
  private checkFileSync(): void {
    if (this.rescued) throw this.rescued;
    const change = this.identity && !this.closed ? fileChange(this.file, this.identity) : undefined;
    if (!change) {
      // The WAL this connection writes (it exists once something was written).
      this.walIdentity ??= fileIdentity(`${this.file}-wal`);
      return;
    }
    this.closed = true;
    this.rescued = rescueAndFail(this.db, this.file, change, this.now(), this.walIdentity);
    throw this.rescued;
  }

  closeSync(): void {
    this.indexer?.stopSoon();
    this.searchConn?.close();
    this.searchConn = undefined;
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.db.readonly) this.db.pragma('optimize');
    } catch {
      // optimize is advisory
    }
    this.db.close();
  }

  /** Closes the store; a running indexer thread finishes its step first (bounded). */
  async close(): Promise<void> {
    await this.indexer?.close();
    this.closeSync();
  }
}

/**
 * When links computed ahead (AppendOptions.ahead) assumed exactly the state the append starts
 * from (the first id, and the head of each category they list) and are no more than the rows
 * (they may cover only the first rows: the store hashes the rest), the categories they cover;
 * otherwise undefined (they are not used).
 */
function aheadFits(
  ahead: ChainAhead | undefined,
  rows: number,
  firstId: number,
  heads: Map<string, Head>,
): Set<string> | undefined {
  const links = ahead ? ahead.hashes.length / 64 : 0;
  if (!ahead || ahead.firstId !== firstId || !Number.isInteger(links) || links > rows) return undefined;
  for (const s of ahead.start) {
    const h = heads.get(s.category);
    if (h ? h.seq !== s.seq || h.hash !== s.hash : s.seq !== 0 || s.hash !== GENESIS_HASH) return undefined;
  }
  return new Set(ahead.start.map((s) => s.category));
}

/**
 * The store holds personal data: it is created 0600 (SQLite gives its -wal and -shm files the
 * same mode), and an existing store readable by others is narrowed to 0600 when opened for writing.
 */
function restrictFileMode(file: string): void {
  try {
    closeSync(openSync(file, 'ax', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = statSync(file);
    try {
      if (st.isFile() && (st.mode & 0o077) !== 0) chmodSync(file, st.mode & 0o700);
    } catch {
      // not ours to change (another owner): the store still opens
    }
  }
}
