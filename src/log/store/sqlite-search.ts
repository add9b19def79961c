/**
 * The SQLite store's search planner: turning a filter into SQL, choosing between collecting the
 * text matches first and walking newest-first, keyset pages, and per-level counts.
 */
import {
  LEVELS,
  LEVEL_RANK,
  type Level,
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
import { COLUMNS, type StoredRow, storeError, toEntry } from './sqlite-common.js';
import type { SqliteLogStore } from './sqlite-store.js';

/**
 * A text query matching at least this many entries is "common": a page is found faster by walking
 * newest-first and probing the full-text index per entry than by collecting every match first.
 */
export const COMMON_TEXT_MATCHES = 10_000;
/**
 * Counting a common text within other filters: when those leave fewer entries than this, checking
 * each of them against the text index beats collecting every text match.
 */
const PROBE_COUNT_ROWS = 30_000;

/** A common text search, run by walking newest-first (see walkText). */
interface TextWalk {
  match: string;
  /** Highest id in the full-text index. */
  upto: number;
  /** Substring conditions for entries not yet indexed (alias `logs`). */
  like: string;
  likeParams: string[];
}

function where(
  s: SqliteLogStore,
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
    const upto = Number(s.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0);
    // Entries committed since the last indexing are matched by substring instead (see schema).
    const like = (alias: string) =>
      terms
        .map(
          () =>
            `(${alias}.message LIKE ? ESCAPE '\\' OR (${alias}.category = 'webhook' AND ${alias}.details LIKE ? ESCAPE '\\'))`,
        )
        .join(' AND ');
    const likeParams = terms.flatMap((t) => [likePattern(t), likePattern(t)]);
    if (purpose === 'page' && filter.orderId === undefined && commonText(s, match)) {
      // Many matches: the page is found by walking the other filters newest-first (searchSync).
      return { clauses, params, walk: { match, upto, like: like('logs'), likeParams } };
    }
    const probe =
      filter.orderId !== undefined || (commonText(s, match) && fewRows(s, clauses, params, PROBE_COUNT_ROWS));
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
function fewRows(s: SqliteLogStore, clauses: string[], params: unknown[], limit: number): boolean {
  if (clauses.length === 0) return false;
  const n = s
    .stmt(`SELECT count(*) FROM (SELECT 1 FROM logs WHERE ${clauses.join(' AND ')} LIMIT ${limit})`)
    .pluck()
    .get(...params) as number;
  return n < limit;
}

/** True when the text matches so many entries that walking newest-first beats collecting them all. */
function commonText(s: SqliteLogStore, match: string): boolean {
  const limit = s.commonTextMatches;
  const n = s
    .stmt(`SELECT count(*) FROM (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? LIMIT ${limit})`)
    .pluck()
    .get(match) as number;
  return n >= limit;
}

export function searchSync(s: SqliteLogStore, filter: LogFilter, options?: SearchOptions): SearchPage {
  const limit = pageSize(options);
  const { clauses, params, walk } = where(s, filter, 'page');
  const cursor = options?.cursor ? decodeCursor(options.cursor) : undefined;
  let rows: StoredRow[];
  try {
    if (walk) {
      rows = walkText(s, clauses, params, walk, cursor, limit + 1);
    } else {
      if (cursor) {
        clauses.push('ts <= ? AND (ts < ? OR id < ?)');
        params.push(cursor.ts, cursor.ts, cursor.id);
      }
      const sql = `SELECT ${COLUMNS} FROM logs${clauses.length ? ' WHERE ' + clauses.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ?`;
      rows = s.stmt(sql).all(...params, limit + 1) as StoredRow[];
    }
  } catch (err) {
    throw storeError(s.file, 'search', err);
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
function walkText(
  s: SqliteLogStore,
  clauses: string[],
  params: unknown[],
  walk: TextWalk,
  cursor: CursorPosition | undefined,
  want: number,
): StoredRow[] {
  const ids: number[] = [];
  let pos = cursor;
  let chunk = 1024;
  const inRange = s
    .stmt('SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? AND rowid >= ? AND rowid <= ?')
    .pluck();
  const tailMatch = s
    .stmt(`SELECT id FROM logs WHERE id IN (SELECT value FROM json_each(?)) AND ${walk.like}`)
    .pluck();
  while (ids.length < want) {
    const cl = [...clauses];
    const pr = [...params];
    if (pos) {
      cl.push('ts <= ? AND (ts < ? OR id < ?)');
      pr.push(pos.ts, pos.ts, pos.id);
    }
    const rows = s
      .stmt(
        `SELECT id, ts FROM logs${cl.length ? ' WHERE ' + cl.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ${chunk}`,
      )
      .all(...pr) as { id: number; ts: number }[];
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
  return s
    .stmt(
      `SELECT ${COLUMNS} FROM logs WHERE id IN (SELECT value FROM json_each(?)) ORDER BY ts DESC, id DESC`,
    )
    .all(JSON.stringify(ids)) as StoredRow[];
}

export function countByLevelSync(s: SqliteLogStore, filter: LogFilter): Record<Level, number> {
  const { clauses, params } = where(s, filter, 'count');
  const sql = `SELECT level, count(*) AS n FROM logs${clauses.length ? ' WHERE ' + clauses.join(' AND ') : ''} GROUP BY level`;
  const out = { info: 0, warn: 0, error: 0, critical: 0 } as Record<Level, number>;
  try {
    for (const r of s.stmt(sql).all(...params) as { level: number; n: number }[]) {
      const name = LEVELS[r.level];
      if (name) out[name] = r.n;
    }
  } catch (err) {
    throw storeError(s.file, 'count in', err);
  }
  return out;
}
