/**
 * The SQLite store's search planner: turning a filter into SQL, finding text through the search
 * file's parts (sqlite/search-file.ts), choosing between collecting the text matches first and
 * walking newest-first, and keyset pages. Per-level counts are in sqlite/counts.ts.
 *
 * Every search reads inside one transaction that reads the store first and the search file after
 * (SearchConnection.read), so the index is never older than the entries it is joined with: an id
 * the index has and the store (at our snapshot) does not is simply not found; entries past the
 * index's watermark are matched by substring (LIKE) so a search is complete however far behind
 * the index is.
 */
import { UsageError } from '../../../errors.js';
import { LEVEL_RANK, type LogFilter, type SearchOptions, type SearchPage } from '../../types.js';
import {
  checkFilter,
  type CursorPosition,
  decodeCursor,
  encodeCursor,
  ftsQuery,
  likePattern,
  pageSize,
  parseTextQuery,
} from '../query.js';
import { storeError } from './common.js';
import { COLUMNS, type StoredRow, toEntry } from '../stored-row.js';
import type { SearchConnection, TextState } from './search-file.js';
import type { SqliteLogStore } from './store.js';

/**
 * A text query matching at least this many entries is "common": a page is found faster by walking
 * newest-first and asking the full-text index per chunk than by collecting every match first.
 */
export const COMMON_TEXT_MATCHES = 10_000;

/** An FTS5 table that covers the ids lo..hi (a part of the search file, or a schema-1 store's own). */
export interface FtsSource {
  /** Qualified table (`idx.fts_3`) and the bare name MATCH takes on its left. */
  table: string;
  name: string;
  lo: number;
  hi: number;
}

/** How a text query is answered: the FTS5 tables to ask, and substring matching past them. */
export interface TextPlan {
  match: string;
  /** Newest (highest ids) first. */
  sources: FtsSource[];
  /** Entries with an id above this are not indexed: matched by `like` instead. */
  tailFrom: number;
  like: (alias: string) => string;
  likeParams: string[];
}

/** The filter's conditions other than text, on `logs` (unqualified or `alias.`). */
export function filterClauses(filter: LogFilter, alias = ''): { clauses: string[]; params: unknown[] } {
  const a = alias ? `${alias}.` : '';
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.categories && filter.categories.length > 0) {
    clauses.push(
      filter.categories.length === 1
        ? `${a}category = ?`
        : `${a}category IN (${filter.categories.map(() => '?').join(', ')})`,
    );
    params.push(...filter.categories);
  }
  // Levels are written as literals (validated ranks) so the partial index (level > 0) applies.
  if (filter.level !== undefined) {
    const r = LEVEL_RANK[filter.level];
    clauses.push(r > 0 ? `${a}level = ${r} AND ${a}level > 0` : `${a}level = 0`);
  } else if (filter.minLevel !== undefined && LEVEL_RANK[filter.minLevel] > 0) {
    clauses.push(`${a}level >= ${LEVEL_RANK[filter.minLevel]} AND ${a}level > 0`);
  }
  if (filter.since !== undefined) {
    clauses.push(`${a}ts >= ?`);
    params.push(Math.floor(filter.since));
  }
  if (filter.until !== undefined) {
    clauses.push(`${a}ts < ?`);
    params.push(Math.ceil(filter.until));
  }
  if (filter.orderId !== undefined) {
    clauses.push(`${a}order_id = ?`);
    params.push(String(filter.orderId));
  }
  return { clauses, params };
}

/** The text part of a filter as a plan over the index's parts that can hold entries of its time range. */
export function textPlan(state: TextState, filter: LogFilter, text: string): TextPlan {
  const terms = parseTextQuery(text);
  const since = filter.since === undefined ? -Infinity : Math.floor(filter.since);
  const until = filter.until === undefined ? Infinity : Math.ceil(filter.until);
  const sources: FtsSource[] = [];
  if (state.legacyUpto > state.upto) {
    sources.push({ table: 'main.logs_fts', name: 'logs_fts', lo: state.upto + 1, hi: state.legacyUpto });
  }
  for (let i = state.parts.length - 1; i >= 0; i--) {
    const p = state.parts[i]!;
    const hi = Math.min(p.lastId, state.upto);
    if (hi < p.firstId || p.minTs === null || p.maxTs === null) continue;
    if (p.minTs >= until || p.maxTs < since) continue;
    sources.push({ table: p.table, name: p.name, lo: p.firstId, hi });
  }
  const like = (alias: string) =>
    terms
      .map(
        () =>
          `(${alias}.message LIKE ? ESCAPE '\\' OR (${alias}.category = 'webhook' AND ${alias}.details LIKE ? ESCAPE '\\'))`,
      )
      .join(' AND ');
  return {
    match: ftsQuery(terms),
    sources,
    tailFrom: Math.max(state.upto, state.legacyUpto),
    like,
    likeParams: terms.flatMap((t) => [likePattern(t), likePattern(t)]),
  };
}

/**
 * The ids matching the text, as an `IN (…)` subquery over every source and the unindexed tail.
 * FTS5 rowid bounds are bound as BigInt: FTS5 ignores a bound given as REAL (how JS numbers bind)
 * and would read every match instead of seeking.
 */
export function matchingIds(plan: TextPlan): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const s of plan.sources) {
    parts.push(`SELECT rowid FROM ${s.table} WHERE ${s.name} MATCH ? AND rowid >= ? AND rowid <= ?`);
    params.push(plan.match, BigInt(s.lo), BigInt(s.hi));
  }
  parts.push(`SELECT t.id FROM main.logs t WHERE t.id > ? AND ${plan.like('t')}`);
  params.push(plan.tailFrom, ...plan.likeParams);
  return { sql: parts.join(' UNION ALL '), params };
}

/** Matches of the text in the index, counted up to `cap` (the unindexed tail not included). */
export function countMatches(c: SearchConnection, plan: TextPlan, cap: number): number {
  let n = 0;
  for (const s of plan.sources) {
    if (n >= cap) break;
    n += c
      .stmt(
        `SELECT count(*) FROM (SELECT rowid FROM ${s.table} WHERE ${s.name} MATCH ? AND rowid >= ? AND rowid <= ? LIMIT ?)`,
      )
      .pluck()
      .get(plan.match, BigInt(s.lo), BigInt(s.hi), cap - n) as number;
  }
  return n;
}

/**
 * Of `ids` (all of them between lo and hi), those whose entry matches the text: one FTS5 query
 * per source over the rowid range, intersected with the ids inside SQLite (handing every match in
 * the range to JavaScript cost 3 times as much when the ids are sparse, e.g. one category's
 * warnings within a month).
 */
export function textHits(
  c: SearchConnection,
  plan: TextPlan,
  ids: { id: number }[],
  lo: number,
  hi: number,
): Set<number> {
  const hits = new Set<number>();
  const list = JSON.stringify(ids.map((r) => r.id));
  for (const s of plan.sources) {
    if (s.hi < lo || s.lo > hi) continue;
    const from = Math.max(lo, s.lo);
    const to = Math.min(hi, s.hi);
    for (const id of c
      .stmt(
        `SELECT j.value FROM json_each(?) j WHERE j.value >= ? AND j.value <= ?
         AND j.value IN (SELECT rowid FROM ${s.table} WHERE ${s.name} MATCH ? AND rowid >= ? AND rowid <= ?)`,
      )
      .pluck()
      .all(list, from, to, plan.match, BigInt(from), BigInt(to)) as number[])
      hits.add(id);
  }
  if (hi > plan.tailFrom) {
    for (const id of c
      .stmt(
        `SELECT id FROM main.logs l WHERE id IN (SELECT value FROM json_each(?) WHERE value > ?) AND ${plan.like('l')}`,
      )
      .pluck()
      .all(list, plan.tailFrom, ...plan.likeParams) as number[])
      hits.add(id);
  }
  return hits;
}

/**
 * Walks the entries matching `clauses` newest-first in chunks (ids and times only, from an index)
 * and yields each chunk with the ids in it that match the text: one FTS5 query per chunk and part
 * (a rowid range, which FTS5 seeks to) instead of one per entry. Chunks grow while hits are rare.
 */
export function* walkChunks(
  c: SearchConnection,
  clauses: string[],
  params: unknown[],
  plan: TextPlan,
  cursor: CursorPosition | undefined,
): Generator<{ rows: { id: number; ts: number }[]; hits: Set<number> }> {
  let pos = cursor;
  let chunk = 1024;
  for (;;) {
    const cl = [...clauses];
    const pr = [...params];
    if (pos) {
      cl.push('ts <= ? AND (ts < ? OR id < ?)');
      pr.push(pos.ts, pos.ts, pos.id);
    }
    const rows = c
      .stmt(
        `SELECT id, ts FROM main.logs${cl.length ? ' WHERE ' + cl.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ${chunk}`,
      )
      .all(...pr) as { id: number; ts: number }[];
    if (rows.length === 0) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of rows) {
      if (r.id < lo) lo = r.id;
      if (r.id > hi) hi = r.id;
    }
    const hits = textHits(c, plan, rows, lo, hi);
    yield { rows, hits };
    if (rows.length < chunk) return;
    const last = rows[rows.length - 1]!;
    pos = { ts: last.ts, id: last.id };
    // Few hits per chunk: take bigger steps.
    if (hits.size < chunk / 8) chunk = Math.min(chunk * 2, 65_536);
  }
}

export function searchSync(s: SqliteLogStore, filter: LogFilter, options?: SearchOptions): SearchPage {
  checkFilter(filter);
  const limit = pageSize(options);
  const cursor = options?.cursor ? decodeCursor(options.cursor) : undefined;
  const c = s.searchConnection();
  let rows: StoredRow[];
  try {
    rows = c.read((state) => {
      const { clauses, params } = filterClauses(filter);
      if (filter.text !== undefined) {
        const plan = textPlan(state, filter, filter.text);
        const common = s.commonTextMatches;
        // Many matches (or an order id narrows it anyway): walk the other filters newest first.
        if (filter.orderId !== undefined || countMatches(c, plan, common) >= common)
          return walkPage(c, clauses, params, plan, cursor, limit + 1);
        // Few matches: collect them from the index first.
        const ids = matchingIds(plan);
        clauses.push(`id IN (${ids.sql})`);
        params.push(...ids.params);
      }
      if (cursor) {
        clauses.push('ts <= ? AND (ts < ? OR id < ?)');
        params.push(cursor.ts, cursor.ts, cursor.id);
      }
      const sql = `SELECT ${COLUMNS} FROM main.logs${clauses.length ? ' WHERE ' + clauses.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ?`;
      return c.stmt(sql).all(...params, limit + 1) as StoredRow[];
    });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw storeError(s.file, 'search', err);
  }
  const page: SearchPage = { entries: rows.slice(0, limit).map(toEntry) };
  if (rows.length > limit) {
    const last = rows[limit - 1]!;
    page.nextCursor = encodeCursor({ ts: last.ts, id: last.id });
  }
  return page;
}

/** The first `want` entries of a walk (see walkChunks), as stored rows, newest first. */
function walkPage(
  c: SearchConnection,
  clauses: string[],
  params: unknown[],
  plan: TextPlan,
  cursor: CursorPosition | undefined,
  want: number,
): StoredRow[] {
  const ids: number[] = [];
  for (const { rows, hits } of walkChunks(c, clauses, params, plan, cursor)) {
    for (const r of rows) {
      if (hits.has(r.id)) ids.push(r.id);
      if (ids.length >= want) break;
    }
    if (ids.length >= want) break;
  }
  if (ids.length === 0) return [];
  return c
    .stmt(
      `SELECT ${COLUMNS} FROM main.logs WHERE id IN (SELECT value FROM json_each(?)) ORDER BY ts DESC, id DESC`,
    )
    .all(JSON.stringify(ids)) as StoredRow[];
}
