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
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from '../../errors.js';
import { isoUtc } from '../../util/time.js';
import { GENESIS_HASH, linkHash } from '../chain.js';
import {
  LEVELS,
  LEVEL_RANK,
  type Level,
  type LogEntry,
  type LogFilter,
  type SearchOptions,
  type SearchPage,
} from '../types.js';
import {
  checkFilter,
  type CursorPosition,
  decodeCursor,
  encodeCursor,
  ftsQuery,
  likePattern,
  pageSize,
  parseTextQuery,
} from './query.js';
import { migrate } from './sqlite-schema.js';
import type {
  AppendOptions,
  AppendResult,
  AppendRow,
  ChainBreak,
  LogStore,
  PruneOptions,
  PruneReport,
  StoreCapabilities,
  VerifyReport,
} from './types.js';

export interface SqliteStoreOptions {
  /** How long to wait for another writer's lock before failing, ms (default 5000). */
  busyTimeoutMs?: number;
  /** Open without writing (no schema creation, no WAL switch). */
  readonly?: boolean;
  /** Used for `pruned_at` records. */
  now?: () => number;
  /** Text matches from which a search walks newest-first instead of collecting (tests force each plan). */
  commonTextMatches?: number;
}

interface Head {
  seq: number;
  hash: string;
}

/** A common text search, run by walking newest-first (see walkText). */
interface TextWalk {
  match: string;
  /** Highest id in the full-text index. */
  upto: number;
  /** Substring conditions for entries not yet indexed (alias `logs`). */
  like: string;
  likeParams: string[];
}

interface PrunedRow {
  id: number;
  category: string;
  seq: number;
  hash: Buffer;
}

interface StoredRow {
  id: number;
  ts: number;
  level: number;
  category: string;
  message: string;
  details: string;
  order_id: string | null;
  error_stack: string | null;
}

const COLUMNS = 'id, ts, level, category, message, details, order_id, error_stack';
const DEFAULT_PRUNE_BATCH = 1000;
const DEFAULT_PRUNE_PAUSE_MS = 25;
/**
 * A text query matching at least this many entries is "common": a page is found faster by walking
 * newest-first and probing the full-text index per entry than by collecting every match first.
 */
const COMMON_TEXT_MATCHES = 10_000;
/**
 * Counting a common text within other filters: when those leave fewer entries than this, checking
 * each of them against the text index beats collecting every text match.
 */
const PROBE_COUNT_ROWS = 30_000;

/** Raised inside a replay transaction when another process already replayed that spool range. */
export class SpoolMarkConflict extends Error {}

export class SqliteLogStore implements LogStore {
  readonly kind = 'sqlite';
  readonly capabilities: StoreCapabilities = { fullText: true, multiProcess: true };
  readonly file: string;
  readonly db: Database.Database;
  private readonly now: () => number;
  private readonly commonTextMatches: number;
  private readonly stmts = new Map<string, Database.Statement>();
  private closed = false;

  private constructor(file: string, db: Database.Database, options: SqliteStoreOptions) {
    this.file = file;
    this.db = db;
    this.now = options.now ?? Date.now;
    this.commonTextMatches = Math.max(1, Math.floor(options.commonTextMatches ?? COMMON_TEXT_MATCHES));
  }

  /** Opens (creating when needed) the store at `file`. Throws StorageError when it cannot. */
  static open(file: string, options: SqliteStoreOptions = {}): SqliteLogStore {
    const abs = path.resolve(file);
    let db: Database.Database | undefined;
    try {
      if (!options.readonly) mkdirSync(path.dirname(abs), { recursive: true });
      db = new Database(abs, {
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
        timeout: options.busyTimeoutMs ?? 5000,
      });
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        migrate(db, abs);
      }
      db.pragma('cache_size = -32000');
      db.pragma('temp_store = MEMORY');
      // Keeps the planner's statistics fresh at little cost (bounded analysis).
      db.pragma('analysis_limit = 1000');
      if (!options.readonly) db.pragma('optimize = 0x10002');
      return new SqliteLogStore(abs, db, options);
    } catch (err) {
      db?.close();
      if (err instanceof StorageError) throw err;
      throw storeError(abs, 'open', err);
    }
  }

  private stmt(sql: string): Database.Statement {
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
    const getMeta = this.stmt('SELECT value FROM meta WHERE key = ?').pluck();
    const setMeta = this.stmt(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    const insert = this.stmt(
      'INSERT INTO logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
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
      const firstId = Number(getMeta.get('next_id') ?? 1);
      const heads = new Map<string, Head>();
      for (const h of headsStmt.all() as { category: string; seq: number; hash: Buffer }[]) {
        heads.set(h.category, { seq: h.seq, hash: h.hash.toString('hex') });
      }
      const touched = new Set<string>();
      let id = firstId;
      for (const row of rows) {
        let head = heads.get(row.category);
        if (!head) {
          head = { seq: 0, hash: GENESIS_HASH };
          heads.set(row.category, head);
        }
        const details = row.webhook ? this.webhookDetails(row, id) : row.details;
        const seq = head.seq + 1;
        const level = LEVEL_RANK[row.level];
        const h = linkHash(head.hash, {
          id,
          seq,
          ts: row.ts,
          level: row.level,
          category: row.category,
          message: row.message,
          details,
          orderId: row.orderId,
          errorStack: row.errorStack,
        });
        insert.run(
          id,
          row.ts,
          level,
          row.category,
          row.message,
          details,
          row.orderId,
          row.errorStack,
          seq,
          Buffer.from(h, 'hex'),
        );
        head.seq = seq;
        head.hash = h;
        touched.add(row.category);
        id++;
      }
      for (const cat of touched) {
        const h = heads.get(cat)!;
        putHead.run(cat, h.seq, Buffer.from(h.hash, 'hex'));
      }
      setMeta.run('next_id', id);
      return { firstId, count: rows.length };
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
    // Callers of the async API expect to find what they appended by text at once.
    this.indexFtsSync(Number.MAX_SAFE_INTEGER);
    return r;
  }

  /**
   * Adds entries committed since the last call to the full-text index, at most `maxRows` of them
   * (in one transaction). Returns how many were indexed. The index is derived data, so this
   * transaction does not wait for fsync (a crash re-indexes from the watermark).
   */
  indexFtsSync(maxRows = 5000): number {
    let total = 0;
    const batch = Math.min(maxRows, 5000);
    const select = this.stmt(
      `SELECT id, message, CASE WHEN category = 'webhook' AND json_valid(details)
         AND json_extract(details, '$.rawBodyEncoding') = 'utf8' THEN json_extract(details, '$.rawBody') END AS body
       FROM logs WHERE id > ? ORDER BY id LIMIT ?`,
    );
    const insert = this.stmt('INSERT INTO logs_fts (rowid, message, body) VALUES (?, ?, ?)');
    const getMeta = this.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck();
    const setMeta = this.stmt("UPDATE meta SET value = ? WHERE key = 'fts_upto'");
    while (total < maxRows) {
      let n = 0;
      const step = () => {
        const upto = Number(getMeta.get() ?? 0);
        const rows = select.all(upto, Math.min(batch, maxRows - total)) as {
          id: number;
          message: string;
          body: string | null;
        }[];
        for (const r of rows) insert.run(r.id, r.message, r.body ?? '');
        if (rows.length) setMeta.run(rows[rows.length - 1]!.id);
        n = rows.length;
      };
      this.db.pragma('synchronous = NORMAL');
      try {
        this.db.transaction(step).immediate();
      } catch (err) {
        throw storeError(this.file, 'index', err);
      } finally {
        this.db.pragma('synchronous = FULL');
      }
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  /** Entries committed but not yet in the full-text index. */
  ftsBacklog(): number {
    const upto = Number(this.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0);
    const next = Number(this.stmt("SELECT value FROM meta WHERE key = 'next_id'").pluck().get() ?? 1);
    return Math.max(0, next - 1 - upto);
  }

  // ---------------------------------------------------------------- search

  private where(
    filter: LogFilter,
    purpose: 'page' | 'count',
  ): { clauses: string[]; params: unknown[]; walk?: TextWalk } {
    checkFilter(filter);
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter.categories && filter.categories.length > 0) {
      clauses.push(
        filter.categories.length === 1
          ? 'category = ?'
          : `category IN (${filter.categories.map(() => '?').join(', ')})`,
      );
      params.push(...filter.categories);
    }
    // Levels are written as literals (validated ranks) so the partial index (level > 0) applies.
    if (filter.level !== undefined) {
      const r = LEVEL_RANK[filter.level];
      clauses.push(r > 0 ? `level = ${r} AND level > 0` : 'level = 0');
    } else if (filter.minLevel !== undefined && LEVEL_RANK[filter.minLevel] > 0) {
      clauses.push(`level >= ${LEVEL_RANK[filter.minLevel]} AND level > 0`);
    }
    if (filter.since !== undefined) {
      clauses.push('ts >= ?');
      params.push(Math.floor(filter.since));
    }
    if (filter.until !== undefined) {
      clauses.push('ts < ?');
      params.push(Math.ceil(filter.until));
    }
    if (filter.orderId !== undefined) {
      clauses.push('order_id = ?');
      params.push(String(filter.orderId));
    }
    if (filter.text !== undefined) {
      const terms = parseTextQuery(filter.text);
      const match = ftsQuery(terms);
      const upto = Number(this.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0);
      // Entries committed since the last indexing are matched by substring instead (see schema).
      const like = (alias: string) =>
        terms
          .map(
            () =>
              `(${alias}.message LIKE ? ESCAPE '\\' OR (${alias}.category = 'webhook' AND ${alias}.details LIKE ? ESCAPE '\\'))`,
          )
          .join(' AND ');
      const likeParams = terms.flatMap((t) => [likePattern(t), likePattern(t)]);
      if (purpose === 'page' && filter.orderId === undefined && this.commonText(match)) {
        // Many matches: the page is found by walking the other filters newest-first (searchSync).
        return { clauses, params, walk: { match, upto, like: like('logs'), likeParams } };
      }
      const probe =
        filter.orderId !== undefined ||
        (this.commonText(match) && this.fewRows(clauses, params, PROBE_COUNT_ROWS));
      if (probe) {
        // Many matches (or an order id narrows it anyway): walk the other filters' index newest
        // first and check each entry against the full-text index, stopping at a page.
        clauses.push(
          `(EXISTS (SELECT 1 FROM logs_fts WHERE logs_fts MATCH ? AND rowid = logs.id) OR (logs.id > ? AND ${like('logs')}))`,
        );
      } else {
        // Few matches (or counting all of them): collect the matching ids from the index first.
        clauses.push(
          `id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? UNION ALL SELECT t.id FROM logs t WHERE t.id > ? AND ${like('t')})`,
        );
      }
      params.push(match, upto, ...likeParams);
    }
    return { clauses, params };
  }

  /** True when the other filters (already in `clauses`) leave fewer than `limit` entries. */
  private fewRows(clauses: string[], params: unknown[], limit: number): boolean {
    if (clauses.length === 0) return false;
    const n = this.stmt(
      `SELECT count(*) FROM (SELECT 1 FROM logs WHERE ${clauses.join(' AND ')} LIMIT ${limit})`,
    )
      .pluck()
      .get(...params) as number;
    return n < limit;
  }

  /** True when the text matches so many entries that walking newest-first beats collecting them all. */
  private commonText(match: string): boolean {
    const limit = this.commonTextMatches;
    const n = this.stmt(
      `SELECT count(*) FROM (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? LIMIT ${limit})`,
    )
      .pluck()
      .get(match) as number;
    return n >= limit;
  }

  searchSync(filter: LogFilter, options?: SearchOptions): SearchPage {
    const limit = pageSize(options);
    const { clauses, params, walk } = this.where(filter, 'page');
    const cursor = options?.cursor ? decodeCursor(options.cursor) : undefined;
    let rows: StoredRow[];
    try {
      if (walk) {
        rows = this.walkText(clauses, params, walk, cursor, limit + 1);
      } else {
        if (cursor) {
          clauses.push('ts <= ? AND (ts < ? OR id < ?)');
          params.push(cursor.ts, cursor.ts, cursor.id);
        }
        const sql = `SELECT ${COLUMNS} FROM logs${clauses.length ? ' WHERE ' + clauses.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ?`;
        rows = this.stmt(sql).all(...params, limit + 1) as StoredRow[];
      }
    } catch (err) {
      throw storeError(this.file, 'search', err);
    }
    const page: SearchPage = { entries: rows.slice(0, limit).map(toEntry) };
    if (rows.length > limit) {
      const last = rows[limit - 1]!;
      page.nextCursor = encodeCursor({ ts: last.ts, id: last.id });
    }
    return page;
  }

  /**
   * A page for a common text: walks the entries matching the other filters newest-first in chunks
   * (ids and times only, from an index) and asks the text index once per chunk which of them match
   * (a rowid range, which FTS5 seeks to), instead of once per entry. Entries newer than the index
   * watermark are checked by substring.
   */
  private walkText(
    clauses: string[],
    params: unknown[],
    walk: TextWalk,
    cursor: CursorPosition | undefined,
    want: number,
  ): StoredRow[] {
    const ids: number[] = [];
    let pos = cursor;
    let chunk = 1024;
    const inRange = this.stmt(
      'SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? AND rowid >= ? AND rowid <= ?',
    ).pluck();
    const tailMatch = this.stmt(
      `SELECT id FROM logs WHERE id IN (SELECT value FROM json_each(?)) AND ${walk.like}`,
    ).pluck();
    while (ids.length < want) {
      const cl = [...clauses];
      const pr = [...params];
      if (pos) {
        cl.push('ts <= ? AND (ts < ? OR id < ?)');
        pr.push(pos.ts, pos.ts, pos.id);
      }
      const rows = this.stmt(
        `SELECT id, ts FROM logs${cl.length ? ' WHERE ' + cl.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ${chunk}`,
      ).all(...pr) as { id: number; ts: number }[];
      if (rows.length === 0) break;
      let lo = Infinity;
      let hi = -Infinity;
      const tail: number[] = [];
      for (const r of rows) {
        if (r.id > walk.upto) tail.push(r.id);
        else {
          if (r.id < lo) lo = r.id;
          if (r.id > hi) hi = r.id;
        }
      }
      // BigInt binds as INTEGER: FTS5 ignores a rowid bound given as REAL (how JS numbers bind)
      // and would scan every match instead of seeking.
      const hits = new Set<number>(
        lo <= hi ? (inRange.all(walk.match, BigInt(lo), BigInt(hi)) as number[]) : [],
      );
      if (tail.length)
        for (const id of tailMatch.all(JSON.stringify(tail), ...walk.likeParams) as number[]) hits.add(id);
      for (const r of rows) {
        if (hits.has(r.id)) {
          ids.push(r.id);
          if (ids.length >= want) break;
        }
      }
      if (rows.length < chunk) break;
      const last = rows[rows.length - 1]!;
      pos = { ts: last.ts, id: last.id };
      // Few hits per chunk: take bigger steps.
      if (hits.size < chunk / 8) chunk = Math.min(chunk * 2, 65_536);
    }
    if (ids.length === 0) return [];
    return this.stmt(
      `SELECT ${COLUMNS} FROM logs WHERE id IN (SELECT value FROM json_each(?)) ORDER BY ts DESC, id DESC`,
    ).all(JSON.stringify(ids)) as StoredRow[];
  }

  async search(filter: LogFilter, options?: SearchOptions): Promise<SearchPage> {
    return this.searchSync(filter, options);
  }

  countByLevelSync(filter: LogFilter): Record<Level, number> {
    const { clauses, params } = this.where(filter, 'count');
    const sql = `SELECT level, count(*) AS n FROM logs${clauses.length ? ' WHERE ' + clauses.join(' AND ') : ''} GROUP BY level`;
    const out = { info: 0, warn: 0, error: 0, critical: 0 } as Record<Level, number>;
    try {
      for (const r of this.stmt(sql).all(...params) as { level: number; n: number }[]) {
        const name = LEVELS[r.level];
        if (name) out[name] = r.n;
      }
    } catch (err) {
      throw storeError(this.file, 'count in', err);
    }
    return out;
  }

  async countByLevel(filter: LogFilter): Promise<Record<Level, number>> {
    return this.countByLevelSync(filter);
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

  // ---------------------------------------------------------------- verify

  verifySync(): VerifyReport {
    const db = this.db;
    // One read transaction: the heads, the pruned runs and the rows are one consistent snapshot.
    db.exec('BEGIN');
    try {
      const heads = new Map<string, Head>();
      for (const h of db.prepare('SELECT category, seq, hash FROM chain_heads').all() as {
        category: string;
        seq: number;
        hash: Buffer;
      }[]) {
        heads.set(h.category, { seq: h.seq, hash: h.hash.toString('hex') });
      }
      const runs = new Map<string, Map<number, { to: number; last: string }>>();
      for (const r of db.prepare('SELECT category, from_seq, to_seq, last_hash FROM chain_pruned').all() as {
        category: string;
        from_seq: number;
        to_seq: number;
        last_hash: Buffer;
      }[]) {
        let m = runs.get(r.category);
        if (!m) runs.set(r.category, (m = new Map()));
        m.set(r.from_seq, { to: r.to_seq, last: r.last_hash.toString('hex') });
      }
      /** The hash before `seq` when seq follows a pruned run starting at `from`; undefined when not pruned. */
      const prunedBefore = (cat: string, from: number, seq: number): string | undefined => {
        // Runs are merged when they touch, but accept adjacent runs too.
        let at = from;
        let last: string | undefined;
        for (let guard = 0; guard < 1_000_000 && at < seq; guard++) {
          const r = runs.get(cat)?.get(at);
          if (!r) return undefined;
          last = r.last;
          at = r.to + 1;
        }
        return at === seq ? last : undefined;
      };
      const state = new Map<string, { seq: number; hash: string; id: number }>();
      let checked = 0;
      let broken: ChainBreak | undefined;
      const rows = db
        .prepare(`SELECT ${COLUMNS}, seq, hash FROM logs ORDER BY id`)
        .iterate() as IterableIterator<StoredRow & { seq: number; hash: Buffer }>;
      for (const r of rows) {
        checked++;
        const level = LEVELS[r.level];
        const st = state.get(r.category) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
        const at = isoUtc(r.ts);
        const fail = (reason: string): ChainBreak => ({
          id: String(r.id),
          category: r.category,
          timestamp: at,
          reason,
        });
        if (!level) {
          broken = fail(`entry ${r.id} has an invalid level ${r.level}`);
          break;
        }
        if (r.seq <= st.seq) {
          broken = fail(
            `entry ${r.id} is out of order in the ${r.category} chain (position ${r.seq} after ${st.seq}): rows were reordered or duplicated`,
          );
          break;
        }
        let prev = st.hash;
        if (r.seq !== st.seq + 1) {
          const p = prunedBefore(r.category, st.seq + 1, r.seq);
          if (p === undefined) {
            broken = fail(
              `entries ${st.seq + 1}..${r.seq - 1} of the ${r.category} chain before entry ${r.id} are missing and were not removed by retention`,
            );
            break;
          }
          prev = p;
        }
        const h = linkHash(prev, {
          id: r.id,
          seq: r.seq,
          ts: r.ts,
          level,
          category: r.category,
          message: r.message,
          details: r.details,
          orderId: r.order_id,
          errorStack: r.error_stack,
        });
        if (h !== r.hash.toString('hex')) {
          broken = fail(
            `entry ${r.id} (${r.category} #${r.seq}) does not match its hash: it was edited, or moved from another position`,
          );
          break;
        }
        state.set(r.category, { seq: r.seq, hash: h, id: r.id });
      }
      if (!broken) {
        // Tails: the newest entry of each chain must be the recorded head (or pruned up to it).
        for (const [cat, st] of state) {
          if (!heads.has(cat)) {
            broken = {
              id: String(st.id),
              category: cat,
              timestamp: null,
              reason: `the chain head of ${cat} is missing`,
            };
            break;
          }
        }
      }
      if (!broken) {
        for (const [cat, head] of heads) {
          const st = state.get(cat) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
          const ok =
            (st.seq === head.seq && st.hash === head.hash) ||
            (st.seq < head.seq && prunedBefore(cat, st.seq + 1, head.seq + 1) === head.hash);
          if (!ok) {
            broken = {
              id: null,
              category: cat,
              timestamp: null,
              reason:
                st.seq < head.seq
                  ? `the newest ${head.seq - st.seq} entries of the ${cat} chain are missing` +
                    (st.id ? ` (last present: entry ${st.id})` : '')
                  : `the ${cat} chain ends at position ${st.seq}, but its head records ${head.seq}`,
            };
            break;
          }
        }
      }
      return { ok: !broken, checked, chains: heads.size, ...(broken ? { firstBroken: broken } : {}) };
    } catch (err) {
      throw storeError(this.file, 'verify', err);
    } finally {
      db.exec('COMMIT');
    }
  }

  async verifyChain(): Promise<VerifyReport> {
    return this.verifySync();
  }

  // ---------------------------------------------------------------- retention

  async prune(options: PruneOptions): Promise<PruneReport> {
    const batchSize = options.batchSize ?? DEFAULT_PRUNE_BATCH;
    const pauseMs = options.pauseMs ?? DEFAULT_PRUNE_PAUSE_MS;
    const report: PruneReport = {
      dryRun: Boolean(options.dryRun),
      categories: {},
      total: 0,
      batches: 0,
      longestBatchMs: 0,
    };
    const categories = await this.categories();
    const cutoffOf = (c: string) => options.cutoffs[c] ?? options.defaultCutoff;
    for (const c of categories) report.categories[c] = { cutoff: isoUtc(cutoffOf(c)), deleted: 0 };
    if (categories.length === 0) return report;
    const count = (c: string, n: number) => {
      report.categories[c]!.deleted += n;
      report.total += n;
    };
    if (options.dryRun) {
      for (const c of categories) {
        count(
          c,
          Number(
            this.stmt('SELECT count(*) FROM logs WHERE category = ? AND ts < ?').pluck().get(c, cutoffOf(c)),
          ),
        );
      }
      return report;
    }
    const batch = async (work: () => Map<string, number>): Promise<boolean> => {
      const t0 = performance.now();
      const done = work();
      report.longestBatchMs = Math.max(report.longestBatchMs, performance.now() - t0);
      // Copy what this batch wrote from the WAL into the database now, on our time: otherwise a
      // writer's next commit does it (SQLite's autocheckpoint runs in whoever commits) and waits.
      this.db.pragma('wal_checkpoint(PASSIVE)');
      let n = 0;
      for (const [c, k] of done) {
        count(c, k);
        n += k;
      }
      if (n === 0) return false;
      report.batches++;
      // Let writers waiting on the lock in (their busy handler retries every few ms).
      await sleep(pauseMs);
      return n >= batchSize;
    };
    // Phase 1: what every category has let go of, oldest first. Rows are in time order on disk
    // (ids follow time), so each batch rewrites a few neighbouring pages, not a page per row.
    const common = Math.min(...categories.map(cutoffOf));
    while (await batch(() => this.pruneOldestSync(common, batchSize))) {
      // next batch
    }
    // Phase 2: categories kept for less time than others, one at a time.
    for (const c of categories) {
      if (cutoffOf(c) <= common) continue;
      while (await batch(() => new Map([[c, this.pruneBatchSync(c, cutoffOf(c), batchSize)]]))) {
        // next batch
      }
    }
    // The daily prune is the maintenance window: tidy the text index too (same-level merges,
    // short steps). Dropping deleted entries from it for good is compactTextIndex's job (`--compact`).
    let longest = await this.mergeTextIndex(pauseMs);
    if (options.compactTextIndex) longest = Math.max(longest, await this.compactTextIndex(pauseMs));
    report.longestBatchMs = Math.max(report.longestBatchMs, longest);
    if (report.total > 0) this.db.pragma('optimize');
    return report;
  }

  /**
   * Maintains the full-text index after a prune: FTS5 'merge' steps with a positive page budget
   * (merging segments of the same level, as automerge does while inserting) in short transactions
   * with pauses between, until there is nothing left to merge. Fewer segments make the per-entry
   * checks of a text search cheaper. (A negative budget, an incremental full 'optimize', is not
   * used: run while other processes write, it kept adding levels until FTS5 refused to write.)
   * Returns the longest step, ms.
   */
  async mergeTextIndex(
    pauseMs = DEFAULT_PRUNE_PAUSE_MS,
    pagesPerStep = 64,
    maxSteps = 2000,
  ): Promise<number> {
    const { longest } = await this.ftsMergeSteps(pagesPerStep, pauseMs, maxSteps, 'throw');
    return longest;
  }

  /**
   * Rewrites the text index without the entries retention deleted (FTS5 'merge' with a negative
   * page budget: an incremental 'optimize'), with pauses between steps. Deleted entries otherwise
   * stay in the index as tombstones (skipped by searches, but taking space). Measured on 10M
   * entries: about 200 steps, 23 s, and a few steps hold the write lock for 2-3 s (a common word's
   * whole posting list is rewritten at once), so run it at a quiet time: writers wait, or spool
   * when they wait longer than their busy timeout. Returns the longest step, ms.
   */
  async compactTextIndex(
    pauseMs = DEFAULT_PRUNE_PAUSE_MS,
    pagesPerStep = 128,
    maxSteps = 20_000,
  ): Promise<number> {
    const { longest, finished } = await this.ftsMergeSteps(-pagesPerStep, pauseMs, maxSteps, 'stop');
    if (finished) this.stmt("UPDATE meta SET value = 0 WHERE key = 'fts_deleted'").run();
    return longest;
  }

  /**
   * Runs FTS5 'merge' steps with `budget` pages (positive: merge same-level segments; negative:
   * incremental optimize) in short write transactions with pauses between, until a step finds
   * nothing to do (`finished`) or `maxSteps` ran. A failed step throws (`onError` 'throw') or ends
   * the run early (`stop`). Returns the longest step, ms.
   */
  private async ftsMergeSteps(
    budget: number,
    pauseMs: number,
    maxSteps: number,
    onError: 'throw' | 'stop',
  ): Promise<{ longest: number; finished: boolean }> {
    const changes = this.stmt('SELECT total_changes()').pluck();
    const merge = this.stmt("INSERT INTO logs_fts (logs_fts, rank) VALUES ('merge', ?)");
    let longest = 0;
    for (let step = 0; step < maxSteps; step++) {
      const before = changes.get() as number;
      const t0 = performance.now();
      try {
        this.db.transaction(() => merge.run(budget)).immediate();
      } catch (err) {
        if (onError === 'stop') return { longest, finished: false };
        throw storeError(this.file, 'maintain the text index of', err);
      }
      longest = Math.max(longest, performance.now() - t0);
      // A step that found nothing to merge changes nothing but the statement itself.
      if ((changes.get() as number) - before <= 1) return { longest, finished: true };
      if (pauseMs > 0) await sleep(pauseMs);
    }
    return { longest, finished: false };
  }

  /** Deletes up to `limit` entries of `category` older than `cutoff` in one transaction. */
  pruneBatchSync(category: string, cutoff: number, limit: number): number {
    const pick = this.stmt(
      'SELECT id, category, seq, hash FROM logs WHERE category = ? AND ts < ? ORDER BY ts LIMIT ?',
    );
    return this.deleteRowsSync(() => pick.all(category, cutoff, limit) as PrunedRow[]).get(category) ?? 0;
  }

  /** Deletes up to `limit` of the oldest entries (any category) older than `cutoff`; counts per category. */
  pruneOldestSync(cutoff: number, limit: number): Map<string, number> {
    const pick = this.stmt('SELECT id, category, seq, hash FROM logs WHERE ts < ? ORDER BY ts LIMIT ?');
    return this.deleteRowsSync(() => pick.all(cutoff, limit) as PrunedRow[]);
  }

  /** In one transaction: picks rows, deletes them (and their index entries), records the chain gaps. */
  private deleteRowsSync(pick: () => PrunedRow[]): Map<string, number> {
    const run = (): Map<string, number> => {
      const rows = pick();
      const byCategory = new Map<string, PrunedRow[]>();
      if (rows.length === 0) return new Map();
      const ids = JSON.stringify(rows.map((r) => r.id));
      this.stmt('DELETE FROM logs WHERE id IN (SELECT value FROM json_each(?))').run(ids);
      const upto = Number(this.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0);
      const gone = this.stmt(
        'DELETE FROM logs_fts WHERE rowid IN (SELECT value FROM json_each(?) WHERE value <= ?)',
      ).run(ids, upto).changes;
      if (gone > 0) {
        this.stmt(
          "INSERT INTO meta (key, value) VALUES ('fts_deleted', ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
        ).run(gone);
      }
      for (const r of rows) {
        let list = byCategory.get(r.category);
        if (!list) byCategory.set(r.category, (list = []));
        list.push(r);
      }
      const webhooks = byCategory.get('webhook');
      if (webhooks) {
        this.stmt('DELETE FROM webhook_events WHERE first_id IN (SELECT value FROM json_each(?))').run(
          JSON.stringify(webhooks.map((r) => r.id)),
        );
      }
      const counts = new Map<string, number>();
      for (const [category, list] of byCategory) {
        this.recordPruned(category, list);
        counts.set(category, list.length);
      }
      return counts;
    };
    try {
      return this.db.transaction(run).immediate();
    } catch (err) {
      throw storeError(this.file, 'prune', err);
    }
  }

  /** Records the deleted seq runs (merged with touching runs) so verification skips them legitimately. */
  private recordPruned(category: string, rows: { seq: number; hash: Buffer }[]): void {
    const sorted = [...rows].sort((a, b) => a.seq - b.seq);
    const byTo = this.stmt('SELECT from_seq, count FROM chain_pruned WHERE category = ? AND to_seq = ?');
    const byFrom = this.stmt(
      'SELECT to_seq, last_hash, count FROM chain_pruned WHERE category = ? AND from_seq = ?',
    );
    const del = this.stmt('DELETE FROM chain_pruned WHERE category = ? AND to_seq = ?');
    const ins = this.stmt(
      'INSERT INTO chain_pruned (category, from_seq, to_seq, last_hash, count, pruned_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    let i = 0;
    while (i < sorted.length) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1]!.seq === sorted[j]!.seq + 1) j++;
      let from = sorted[i]!.seq;
      let to = sorted[j]!.seq;
      let last = sorted[j]!.hash;
      let count = j - i + 1;
      const before = byTo.get(category, from - 1) as { from_seq: number; count: number } | undefined;
      if (before) {
        del.run(category, from - 1);
        from = before.from_seq;
        count += before.count;
      }
      const after = byFrom.get(category, to + 1) as
        { to_seq: number; last_hash: Buffer; count: number } | undefined;
      if (after) {
        del.run(category, after.to_seq);
        to = after.to_seq;
        last = after.last_hash;
        count += after.count;
      }
      ins.run(category, from, to, last, count, this.now());
      i = j + 1;
    }
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

  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.db.readonly) this.db.pragma('optimize');
    } catch {
      // optimize is advisory
    }
    this.db.close();
  }

  async close(): Promise<void> {
    this.closeSync();
  }
}

function toEntry(r: StoredRow): LogEntry {
  let details: Record<string, unknown>;
  try {
    const d = JSON.parse(r.details) as unknown;
    details =
      d !== null && typeof d === 'object' && !Array.isArray(d)
        ? (d as Record<string, unknown>)
        : { value: d };
  } catch {
    details = { _unparseable: r.details };
  }
  return {
    id: String(r.id),
    timestamp: isoUtc(r.ts),
    level: LEVELS[r.level] ?? 'critical',
    category: r.category,
    message: r.message,
    details,
    order_id: r.order_id,
    error_stack: r.error_stack,
  };
}

/** SQLite result codes that mean "the store cannot be written now" (spool and retry). */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  const inner = (err as { cause?: { code?: unknown } })?.cause?.code;
  const c = typeof code === 'string' ? code : typeof inner === 'string' ? inner : '';
  return /^(SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|PERM|CORRUPT|NOTADB|PROTOCOL|AUTH)|E(ACCES|PERM|ROFS|NOSPC|NOTDIR|NOENT|IO|DQUOT))/.test(
    c,
  );
}

function storeError(file: string, verb: string, err: unknown): StorageError {
  const code = (err as { code?: unknown })?.code;
  const msg = err instanceof Error ? err.message : String(err);
  const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
  return new StorageError(
    'E_LOG_STORE',
    `cannot ${verb} the log store ${file}: ${msg}${typeof code === 'string' ? ` (${code})` : ''}`,
    {
      hint: busy
        ? 'another process holds the store locked; retry, or find the process keeping a long transaction open'
        : 'check logs.store.path: the folder must exist and be writable, and the disk must not be full',
      cause: err,
      transient: busy,
    },
  );
}
