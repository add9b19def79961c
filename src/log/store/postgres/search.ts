/**
 * Searching the PostgreSQL store: filters as SQL with bound parameters, text through the GIN
 * index on `tsv` (never LIKE), newest first with a keyset cursor on (ts, id), and per-level counts.
 * PostgreSQL's planner picks between walking a (…, ts, id) index newest-first and collecting the
 * text matches from the GIN index; both give the same rows.
 */
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { LEVELS, LEVEL_RANK, type LogFilter, type SearchOptions, type SearchPage } from '../../types.js';
import {
  checkFilter,
  countLimit,
  decodeCursor,
  encodeCursor,
  pageSize,
  parseTextQuery,
  zeroCounts,
} from '../query.js';
import type { CountOptions, LevelCounts } from '../types.js';
import type { PostgresLogStore } from './store.js';
import { COLUMNS, type StoredRow, toEntry } from '../stored-row.js';
import { PG_SCHEMA } from './schema.js';
import { tsQuery } from './text.js';

const S = PG_SCHEMA;
/** A text search matching fewer entries (with the other filters) collects them instead of walking. */
const COMMON_TEXT = 5000;

/** The WHERE clauses and parameters for a filter ($1 … $n). */
export function pgWhere(filter: LogFilter): { clauses: string[]; params: unknown[] } {
  checkFilter(filter);
  const clauses: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (filter.categories && filter.categories.length > 0) {
    clauses.push(
      filter.categories.length === 1
        ? `category = ${p(filter.categories[0])}`
        : `category = ANY(${p(filter.categories)}::text[])`,
    );
  }
  // Levels as literals (validated ranks) so the partial index (level > 0) applies.
  if (filter.level !== undefined) {
    const r = LEVEL_RANK[filter.level];
    clauses.push(r > 0 ? `level = ${r} AND level > 0` : 'level = 0');
  } else if (filter.minLevel !== undefined && LEVEL_RANK[filter.minLevel] > 0) {
    clauses.push(`level >= ${LEVEL_RANK[filter.minLevel]} AND level > 0`);
  }
  if (filter.since !== undefined) clauses.push(`ts >= ${p(Math.floor(filter.since))}`);
  if (filter.until !== undefined) clauses.push(`ts < ${p(Math.ceil(filter.until))}`);
  if (filter.orderId !== undefined) clauses.push(`order_id = ${p(String(filter.orderId))}`);
  if (filter.text !== undefined) {
    const q = tsQuery(parseTextQuery(filter.text));
    clauses.push(q === null ? 'false' : `tsv @@ to_tsquery('simple', ${p(q)})`);
  }
  return { clauses, params };
}

/**
 * A query as a named (prepared) statement, one name per SQL text. Planning a search over the ~58
 * week partitions took most of its time (an order id on 10M entries: 6-25 ms planned, 0.7 ms
 * run); a prepared statement is planned once per connection, generically (see `generic`), with
 * partitions pruned at run time. Used where the plan does not depend on the values: every filter
 * walks or probes the same indexes whatever its value. Not for anything with a common word, where
 * a custom plan knows how common the word is.
 */
function named(text: string, values: unknown[]): pg.QueryConfig {
  return { name: `sn_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text, values };
}

/**
 * Runs a named statement with a generic plan from the first execution (PostgreSQL's default would
 * plan it afresh five times per connection first). The setting is the connection's, so it is
 * reset at once: unnamed statements obey it too, and must keep their custom plans.
 */
async function generic(c: pg.PoolClient, query: pg.QueryConfig): Promise<pg.QueryResult<StoredRow>> {
  await c.query('SET plan_cache_mode = force_generic_plan');
  try {
    return await c.query<StoredRow>(query);
  } finally {
    await c.query('RESET plan_cache_mode');
  }
}

/** Newest first, one page, keyset-paginated on (ts, id). */
export async function search(
  s: PostgresLogStore,
  filter: LogFilter,
  options?: SearchOptions,
): Promise<SearchPage> {
  const limit = pageSize(options);
  const { clauses, params } = pgWhere(filter);
  if (options?.cursor) {
    const c = decodeCursor(options.cursor);
    params.push(c.ts, c.id);
    clauses.push(`(ts, id) < ($${params.length - 1}::bigint, $${params.length}::bigint)`);
  }
  const where = clauses.length ? ' WHERE ' + clauses.join(' AND ') : '';
  const r = await s.use('search', async (c) => {
    // PostgreSQL cannot estimate how many entries a word matches; with ORDER BY … LIMIT it tends to
    // walk the time index and test every entry (measured: 1.4 s for a customer id on 1M entries).
    // So count the matches first (up to COMMON_TEXT): when there are few, collect them from the
    // GIN index and sort (a materialised CTE fences the LIMIT off); when many, walking is right.
    let collect = false;
    if (filter.text !== undefined) {
      // Unnamed: how to count up to COMMON_TEXT matches depends on how common the word is.
      const n = await c.query<{ n: number }>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM ${S}.logs${where} LIMIT ${COMMON_TEXT}) m`,
        params,
      );
      collect = n.rows[0]!.n < COMMON_TEXT;
    }
    params.push(limit + 1);
    const sql = collect
      ? `WITH m AS MATERIALIZED (SELECT ${COLUMNS} FROM ${S}.logs${where})
         SELECT * FROM m ORDER BY ts DESC, id DESC LIMIT $${params.length}`
      : `SELECT ${COLUMNS} FROM ${S}.logs${where} ORDER BY ts DESC, id DESC LIMIT $${params.length}`;
    return filter.text !== undefined && !collect
      ? c.query<StoredRow>(sql, params)
      : generic(c, named(sql, params));
  });
  const page: SearchPage = { entries: r.rows.slice(0, limit).map(toEntry) };
  if (r.rows.length > limit) {
    const last = r.rows[limit - 1]!;
    page.nextCursor = encodeCursor({ ts: last.ts, id: last.id });
  }
  return page;
}

/**
 * Entries per level for the filter: a `GROUP BY level` over the same filter; with `limit`, over the
 * first `limit` matching entries only (a LIMIT inside, so PostgreSQL stops reading there), and
 * `partial` when that many were found: each count is then a lower bound.
 */
export async function countByLevel(
  s: PostgresLogStore,
  filter: LogFilter,
  options?: CountOptions,
): Promise<LevelCounts> {
  const limit = countLimit(options);
  const { clauses, params } = pgWhere(filter);
  const where = clauses.length ? ' WHERE ' + clauses.join(' AND ') : '';
  let sql = `SELECT level, count(*)::int AS n FROM ${S}.logs${where} GROUP BY level`;
  if (limit !== undefined) {
    params.push(limit);
    sql = `SELECT level, count(*)::int AS n FROM (SELECT level FROM ${S}.logs${where} LIMIT $${params.length}) m GROUP BY level`;
  }
  const r = await s.use('count in', (c) => c.query<{ level: number; n: number }>(sql, params));
  const counts = zeroCounts();
  let total = 0;
  for (const row of r.rows) {
    const name = LEVELS[row.level];
    if (name) counts[name] = Number(row.n);
    total += Number(row.n);
  }
  return { counts, partial: limit !== undefined && total >= limit };
}
