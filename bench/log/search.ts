/**
 * Search benchmark over the 10M-entry, 400-day store (bench/log/fixture.ts): p50/p95 of the first
 * page (50 entries, newest first) for each kind of filter, and of the per-level counts the CLI
 * and admin panel show beside it: as they show them (with the default limit, DEFAULT_COUNT_LIMIT:
 * "at least" past it; the share of such partial answers is printed) and exact (the panel's "Exact
 * counts" link, `logs search --exact-counts`). The peer, in the same run, is the WooCommerce
 * logger's way of searching (DESIGN.md §4): the same table read without indexes, text by
 * LIKE '%term%'.
 *
 *   npx tsx bench/log/search.ts [--count 10000000] [--queries 200] [--exact-queries 20] [--peer-queries 5]
 *                               [--only WORD]
 */
import { performance } from 'node:perf_hooks';
import { createRng } from '../lib/prng.js';
import { machineInfo } from '../lib/report.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { DEFAULT_COUNT_LIMIT } from '../../src/log/store/query.js';
import { LEVELS, LEVEL_RANK, type LogFilter } from '../../src/log/types.js';
import { CATEGORIES } from './entries.js';
import { ensureLogFixture } from './fixture.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const COUNT = arg('count', 10_000_000);
const QUERIES = arg('queries', 200);
const PEER_QUERIES = arg('peer-queries', 5);
const EXACT_QUERIES = arg('exact-queries', 20);
const DAY = 86_400_000;
const WORDS = ['checkout', 'refund', 'shipping', 'coupon', 'stock', 'timeout', 'gateway', 'discount'];

const fx = await ensureLogFixture(COUNT);
const store = SqliteLogStore.open(fx.file, { readonly: true });
const db = store.db;
const rng = createRng(99);
const startMs = fx.endMs - fx.days * DAY;

// Real entries with an order id, to build order-id and all-filters queries that match something.
const maxId = db.prepare('SELECT max(id) FROM logs').pluck().get() as number;
const withOrder: { ts: number; level: number; category: string; message: string; order_id: string }[] = [];
const pick = db.prepare(
  'SELECT ts, level, category, message, order_id FROM logs WHERE id >= ? AND order_id IS NOT NULL LIMIT 1',
);
while (withOrder.length < QUERIES + 50)
  withOrder.push(pick.get(rng.int(1, maxId)) as (typeof withOrder)[number]);

const range = (days: number) => {
  const since = startMs + rng.next() * (fx.days - days) * DAY;
  return { since, until: since + days * DAY };
};

type Kind = { name: string; make: (i: number) => LogFilter };
const kinds: Kind[] = [
  { name: 'no filter (the Logs page as it opens)', make: () => ({}) },
  { name: 'one category', make: () => ({ categories: [rng.pick(CATEGORIES)] }) },
  {
    name: 'last 24 hours (a sliding window)',
    make: () => ({ since: fx.endMs - DAY - rng.int(0, 3_600_000) }),
  },
  {
    name: 'category + level + 7-day range',
    make: () => ({ categories: [rng.pick(CATEGORIES)], level: rng.pick(LEVELS), ...range(7) }),
  },
  { name: 'order id', make: (i) => ({ orderId: withOrder[i]!.order_id }) },
  { name: 'text, rare term (a customer id)', make: () => ({ text: `c${rng.int(1, 50_000)}` }) },
  { name: 'text, common word (~10% of entries)', make: () => ({ text: rng.pick(WORDS) }) },
  {
    name: 'category + min level + 30 days + text',
    make: () => ({
      categories: [rng.pick(CATEGORIES)],
      minLevel: 'warn',
      ...range(30),
      text: rng.pick(WORDS),
    }),
  },
  {
    name: 'all five filters (category, level, 30 days, order, text)',
    make: (i) => {
      const e = withOrder[i]!;
      return {
        categories: [e.category],
        level: LEVELS[e.level]!,
        since: e.ts - 15 * DAY,
        until: e.ts + 15 * DAY,
        orderId: e.order_id,
        text: e.message.split(' ')[1]!,
      };
    },
  },
];

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The peer: no index (NOT INDEXED forces the full table scan it would do), LIKE for text. */
function peerQuery(f: LogFilter): void {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.categories) {
    where.push(`category IN (${f.categories.map(() => '?').join(',')})`);
    params.push(...f.categories);
  }
  if (f.level) where.push(`level = ${LEVEL_RANK[f.level]}`);
  if (f.minLevel) where.push(`level >= ${LEVEL_RANK[f.minLevel]}`);
  if (f.since !== undefined) {
    where.push('ts >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    where.push('ts < ?');
    params.push(f.until);
  }
  if (f.orderId) {
    where.push('order_id = ?');
    params.push(f.orderId);
  }
  if (f.text) {
    where.push('message LIKE ?');
    params.push(`%${f.text}%`);
  }
  db.prepare(
    `SELECT * FROM logs NOT INDEXED ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ts DESC LIMIT 50`,
  ).all(...params);
}

console.log(
  `search benchmark: ${COUNT.toLocaleString('en')} entries over ${fx.days} days; ${machineInfo().cpuModel}, load ${machineInfo().loadavg.join(' ')}`,
);
console.log(
  'kind'.padEnd(58) +
    'page p50    p95 | counts p50    p95 partial | exact p50    p95 | hits   | peer p50 (no index, LIKE)  ratio p50',
);
// `--only WORD`: just the kinds whose name contains it.
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
for (const kind of kinds.filter((k) => !only || k.name.includes(only))) {
  const filters = Array.from({ length: QUERIES + 20 }, (_, i) => kind.make(i));
  const page: number[] = [];
  const counts: number[] = [];
  const exact: number[] = [];
  let hits = 0;
  let partial = 0;
  filters.forEach((f, i) => {
    const t0 = performance.now();
    const r = store.searchSync(f, { limit: 50 });
    const t1 = performance.now();
    const c = store.countByLevelSync(f, { limit: DEFAULT_COUNT_LIMIT });
    const t2 = performance.now();
    if (i >= 20) {
      // the first 20 warm the cache
      page.push(t1 - t0);
      counts.push(t2 - t1);
      if (r.entries.length > 0) hits++;
      if (c.partial) partial++;
    }
  });
  for (const f of filters.slice(20, 20 + EXACT_QUERIES)) {
    const t0 = performance.now();
    store.countByLevelSync(f);
    exact.push(performance.now() - t0);
  }
  const peer: number[] = [];
  for (const f of filters.slice(20, 20 + PEER_QUERIES)) {
    const t0 = performance.now();
    peerQuery(f);
    peer.push(performance.now() - t0);
  }
  for (const a of [page, counts, exact, peer]) a.sort((x, y) => x - y);
  const p50 = pct(page, 50);
  const f = (n: number, w = 7) => n.toFixed(n < 10 ? 2 : 1).padStart(w);
  console.log(
    kind.name.padEnd(58) +
      `${f(p50)} ${f(pct(page, 95))} | ${f(pct(counts, 50), 10)} ${f(pct(counts, 95))} ${String(Math.round((partial / QUERIES) * 100)).padStart(6)}% | ${f(pct(exact, 50), 9)} ${f(pct(exact, 95))} |` +
      ` ${String(hits).padStart(3)}/${QUERIES} | ${pct(peer, 50).toFixed(0).padStart(8)} ms` +
      `${(p50 / pct(peer, 50)).toFixed(4).padStart(26)}`,
  );
}
console.log(
  `(times in ms; "page" is the first 50 entries newest first; "counts" stop after ${DEFAULT_COUNT_LIMIT.toLocaleString('en')} matching entries ("partial": the share that did); goals: page p95 < 50 ms, order id < 5 ms, counts p95 < 200 ms; load ${machineInfo().loadavg.join(' ')})`,
);
store.closeSync();
