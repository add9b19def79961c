/**
 * Per-level counts in the SQLite store, for any filter, exact or bounded (`limit`).
 *
 * - Without text or order id: the search file's per-hour and per-day counts (sqlite/search-file.ts)
 *   answer the whole hours of the time range; the partial hours at its ends and the entries not
 *   yet counted (past the index's watermark) are counted from the store, and entries retention
 *   deleted that the search file has not forgotten yet are subtracted. Exact, and a sum of at most
 *   a few thousand rows however large the store.
 * - With text: either each text match is looked up (when the text is the more selective part), or
 *   the other filters' entries are walked newest-first and checked against the index per chunk.
 * - With `limit`: whatever is counted from entries (not from the sums) stops after about `limit`
 *   matching entries (a walk also after 8 × `limit` entries looked at), and the result says it is
 *   `partial`: every count is then a lower bound.
 */
import { UsageError } from '../../../errors.js';
import { LEVELS, type Level, type LogFilter } from '../../types.js';
import { checkFilter, countLimit, zeroCounts } from '../query.js';
import { storeError } from './common.js';
import type { SearchConnection, TextState } from './search-file.js';
import { countMatches, filterClauses, textPlan, walkChunks, type TextPlan } from './search.js';
import type { SqliteLogStore } from './store.js';
import type { CountOptions, LevelCounts } from '../types.js';

const HOUR = 3_600_000;
/** A walk looks at up to this many entries per matching entry the limit allows. */
const WALK_FACTOR = 8;
/** Text matches are counted up to this to choose how to count (see textCounts). */
const ESTIMATE_CAP = 50_000;

/** Counts per level, with the budget of entries still to examine. */
class Tally {
  readonly counts = zeroCounts();
  partial = false;
  examined = 0;
  constructor(readonly limit: number | undefined) {}

  /** Entries that may still be examined (Infinity without a limit). */
  room(): number {
    return this.limit === undefined ? Infinity : Math.max(0, this.limit - this.examined);
  }

  add(rows: { level: number; n: number }[], sign = 1): void {
    for (const r of rows) {
      const name = LEVELS[r.level] as Level | undefined;
      if (name) this.counts[name] += sign * r.n;
    }
  }

  result(): LevelCounts {
    return { counts: this.counts, partial: this.partial };
  }
}

/** SQL LIMIT for a room (-1: none). */
function limitOf(room: number): number {
  return Number.isFinite(room) ? room : -1;
}

export function countByLevelSync(s: SqliteLogStore, filter: LogFilter, options?: CountOptions): LevelCounts {
  checkFilter(filter);
  const tally = new Tally(countLimit(options));
  const c = s.searchConnection();
  try {
    c.read((state) => {
      if (filter.text !== undefined) textCounts(c, state, filter, filter.text, tally);
      else if (filter.orderId !== undefined) {
        const { clauses, params } = filterClauses(filter);
        scan(c, clauses, params, tally);
      } else summaryCounts(c, state, filter, tally);
    });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw storeError(s.file, 'count in', err);
  }
  // Never below zero, whatever a damaged summary says.
  for (const l of LEVELS) tally.counts[l] = Math.max(0, tally.counts[l]);
  return tally.result();
}

/**
 * Counts the entries matching `clauses` from the store, within the tally's budget. `byId`: the
 * clauses start with an id range that must drive the scan (the unindexed tail): NOT INDEXED keeps
 * the planner from walking a whole category's index instead (measured: 130 ms instead of 0.1).
 */
function scan(c: SearchConnection, clauses: string[], params: unknown[], tally: Tally, byId = false): void {
  const room = tally.room();
  if (room <= 0) {
    tally.partial = true;
    return;
  }
  const rows = c
    .stmt(
      `SELECT level, count(*) AS n FROM (SELECT level FROM main.logs${byId ? ' NOT INDEXED' : ''}${clauses.length ? ' WHERE ' + clauses.join(' AND ') : ''} LIMIT ?) GROUP BY level`,
    )
    .all(...params, limitOf(room)) as { level: number; n: number }[];
  const n = rows.reduce((a, r) => a + r.n, 0);
  tally.examined += n;
  tally.add(rows);
  if (n >= room) tally.partial = true;
}

/**
 * Where to start counting the entries past the index (`from`: the first id not indexed). With a
 * limit, at most 8 × `limit` of the newest of them are looked at (the tally is then partial), so
 * counts stay bounded even while the index is far behind (a restored store rebuilding it).
 */
function tailStart(state: TextState, from: number, tally: Tally): number {
  if (tally.limit === undefined) return from;
  const cap = tally.limit * WALK_FACTOR;
  const last = state.nextId - 1;
  if (last - from <= cap) return from;
  tally.partial = true;
  return last - cap;
}

/** `column >= lo AND column < hi` for the finite ends. */
function range(column: string, lo: number, hi: number): { clauses: string[]; params: number[] } {
  const clauses: string[] = [];
  const params: number[] = [];
  if (Number.isFinite(lo)) {
    clauses.push(`${column} >= ?`);
    params.push(lo);
  }
  if (Number.isFinite(hi)) {
    clauses.push(`${column} < ?`);
    params.push(hi);
  }
  return { clauses, params };
}

/** Sums one of the search file's count tables over a bucket range, with the category/level filter. */
function sumCounts(
  c: SearchConnection,
  table: 'counts_day' | 'counts_hour',
  column: 'day' | 'hour',
  lo: number,
  hi: number,
  catLevel: { clauses: string[]; params: unknown[] },
  tally: Tally,
): void {
  if (!(lo < hi)) return;
  const r = range(column, lo, hi);
  const where = [...r.clauses, ...catLevel.clauses];
  const rows = c
    .stmt(
      `SELECT level, sum(n) AS n FROM idx.${table}${where.length ? ' WHERE ' + where.join(' AND ') : ''} GROUP BY level`,
    )
    .all(...r.params, ...catLevel.params) as { level: number; n: number }[];
  tally.add(rows);
}

/** Counts without text or order id (see the module comment). */
function summaryCounts(c: SearchConnection, state: TextState, filter: LogFilter, tally: Tally): void {
  const all = filterClauses(filter);
  if (!state.usable) {
    scan(c, all.clauses, all.params, tally);
    return;
  }
  const since = filter.since === undefined ? -Infinity : Math.floor(filter.since);
  const until = filter.until === undefined ? Infinity : Math.ceil(filter.until);
  // Whole hours inside [since, until), and whole days inside those.
  const hs = Number.isFinite(since) ? Math.ceil(since / HOUR) : -Infinity;
  const he = Number.isFinite(until) ? Math.floor(until / HOUR) : Infinity;
  if (!(hs < he)) {
    scan(c, all.clauses, all.params, tally);
    return;
  }
  const ds = Number.isFinite(hs) ? Math.ceil(hs / 24) : -Infinity;
  const de = Number.isFinite(he) ? Math.floor(he / 24) : Infinity;
  const catLevel = filterClauses({
    ...(filter.categories ? { categories: filter.categories } : {}),
    ...(filter.level !== undefined ? { level: filter.level } : {}),
    ...(filter.minLevel !== undefined ? { minLevel: filter.minLevel } : {}),
  });
  if (ds < de) {
    sumCounts(c, 'counts_day', 'day', ds, de, catLevel, tally);
    sumCounts(c, 'counts_hour', 'hour', hs, ds * 24, catLevel, tally);
    sumCounts(c, 'counts_hour', 'hour', de * 24, he, catLevel, tally);
  } else {
    sumCounts(c, 'counts_hour', 'hour', hs, he, catLevel, tally);
  }
  const inner = range('ts', hs * HOUR, he * HOUR);
  // Deleted by retention, not yet forgotten by the search file: still in the sums.
  const pending = [...inner.clauses, ...catLevel.clauses, 'batch > ?', 'id <= ?'];
  tally.add(
    c
      .stmt(
        `SELECT level, count(*) AS n FROM main.text_pending WHERE ${pending.join(' AND ')} GROUP BY level`,
      )
      .all(...inner.params, ...catLevel.params, state.applied, state.upto) as { level: number; n: number }[],
    -1,
  );
  // The partial hours at both ends, then the entries not counted yet.
  if (Number.isFinite(since) && since < hs * HOUR) {
    const edge = range('ts', since, hs * HOUR);
    scan(c, [...edge.clauses, ...catLevel.clauses], [...edge.params, ...catLevel.params], tally);
  }
  if (Number.isFinite(until) && he * HOUR < until) {
    const edge = range('ts', he * HOUR, until);
    scan(c, [...edge.clauses, ...catLevel.clauses], [...edge.params, ...catLevel.params], tally);
  }
  scan(
    c,
    ['id > ?', ...inner.clauses, ...catLevel.clauses],
    [tailStart(state, state.upto, tally), ...inner.params, ...catLevel.params],
    tally,
    true,
  );
}

/**
 * Counts with text. Drives from the smaller side: when the other filters leave fewer entries than
 * twice the text's matches, those entries are checked against the index (all at once when they
 * are few enough, else walked newest-first in chunks); otherwise each text match is looked up,
 * newest first (the unindexed tail by substring).
 */
function textCounts(
  c: SearchConnection,
  state: TextState,
  filter: LogFilter,
  text: string,
  tally: Tally,
): void {
  const plan = textPlan(state, filter, text);
  const { clauses, params } = filterClauses(filter);
  if (clauses.length === 0) return matchCounts(c, state, filter, plan, tally);
  const matches = filter.orderId !== undefined ? 0 : countMatches(c, plan, ESTIMATE_CAP);
  const cap = filter.orderId !== undefined ? ESTIMATE_CAP : 2 * matches + 1;
  const others = c
    .stmt(
      `SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM (SELECT id FROM main.logs WHERE ${clauses.join(' AND ')} LIMIT ?)`,
    )
    .get(...params, cap) as { n: number; lo: number | null; hi: number | null };
  if (filter.orderId === undefined && others.n > 2 * matches)
    return matchCounts(c, state, filter, plan, tally);
  if (others.n < cap && (tally.limit === undefined || others.n <= tally.limit * WALK_FACTOR)) {
    if (others.lo !== null && others.hi !== null)
      checkAll(c, state, clauses, params, plan, others.lo, others.hi, tally);
  } else walkCounts(c, clauses, params, plan, tally);
}

/**
 * Counting the entries the other filters leave (lo..hi their ids), all at once: per index source,
 * one statement that scans them through their own index and keeps those among the text's matches
 * in their id range (SQLite collects those once). Measured 15 ms for a month of one category's
 * warnings and a common word, where walking in chunks took 35.
 */
function checkAll(
  c: SearchConnection,
  state: TextState,
  clauses: string[],
  params: unknown[],
  plan: TextPlan,
  lo: number,
  hi: number,
  tally: Tally,
): void {
  const where = clauses.join(' AND ');
  for (const s of plan.sources) {
    if (s.hi < lo || s.lo > hi) continue;
    const rows = c
      .stmt(
        `SELECT level, count(*) AS n FROM main.logs WHERE ${where}
         AND id IN (SELECT rowid FROM ${s.table} WHERE ${s.name} MATCH ? AND rowid >= ? AND rowid <= ?) GROUP BY level`,
      )
      .all(...params, plan.match, BigInt(Math.max(lo, s.lo)), BigInt(Math.min(hi, s.hi))) as {
      level: number;
      n: number;
    }[];
    tally.add(rows);
    tally.examined += rows.reduce((a, r) => a + r.n, 0);
  }
  if (hi > plan.tailFrom) {
    const rows = c
      .stmt(
        `SELECT level, count(*) AS n FROM main.logs NOT INDEXED WHERE id > ? AND ${where} AND ${plan.like('logs')} GROUP BY level`,
      )
      .all(tailStart(state, plan.tailFrom, tally), ...params, ...plan.likeParams) as {
      level: number;
      n: number;
    }[];
    tally.add(rows);
    tally.examined += rows.reduce((a, r) => a + r.n, 0);
  }
}

/** Counting by walking the other filters' entries newest-first (see walkChunks), within budget. */
function walkCounts(
  c: SearchConnection,
  clauses: string[],
  params: unknown[],
  plan: TextPlan,
  tally: Tally,
): void {
  const walkCap = tally.limit === undefined ? Infinity : tally.limit * WALK_FACTOR;
  let walked = 0;
  const levels = c.stmt(
    'SELECT level, count(*) AS n FROM main.logs WHERE id IN (SELECT value FROM json_each(?)) GROUP BY level',
  );
  for (const { rows, hits } of walkChunks(c, clauses, params, plan, undefined)) {
    walked += rows.length;
    if (hits.size > 0) {
      tally.add(levels.all(JSON.stringify([...hits])) as { level: number; n: number }[]);
      tally.examined += hits.size;
    }
    if (tally.room() <= 0 || walked >= walkCap) {
      tally.partial = true;
      return;
    }
  }
}

/** Counting by looking up each text match, newest first, within the tally's budget. */
function matchCounts(
  c: SearchConnection,
  state: TextState,
  filter: LogFilter,
  plan: TextPlan,
  tally: Tally,
): void {
  const others = filterClauses(filter, 'l');
  // Not indexed yet (the newest entries): by substring.
  const all = filterClauses(filter);
  scan(
    c,
    ['id > ?', plan.like('logs'), ...all.clauses],
    [tailStart(state, plan.tailFrom, tally), ...plan.likeParams, ...all.params],
    tally,
    true,
  );
  for (const s of plan.sources) {
    const room = tally.room();
    if (room <= 0) {
      tally.partial = true;
      return;
    }
    // LEFT JOIN: a match the other filters reject (or whose entry is gone) still counts as examined.
    const on = ['l.id = m.id', ...others.clauses].join(' AND ');
    const rows = c
      .stmt(
        `SELECT coalesce(l.level, -1) AS level, count(*) AS n
         FROM (SELECT rowid AS id FROM ${s.table} WHERE ${s.name} MATCH ? AND rowid >= ? AND rowid <= ?
               ORDER BY rowid DESC LIMIT ?) m
         LEFT JOIN main.logs l ON ${on} GROUP BY 1`,
      )
      .all(plan.match, BigInt(s.lo), BigInt(s.hi), limitOf(room), ...others.params) as {
      level: number;
      n: number;
    }[];
    const n = rows.reduce((a, r) => a + r.n, 0);
    tally.examined += n;
    tally.add(rows);
    if (n >= room) {
      tally.partial = true;
      return;
    }
  }
}
