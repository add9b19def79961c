/**
 * Per-level counts on the PostgreSQL log store at size, limited (as the panel and `logs search`
 * ask for them: DEFAULT_COUNT_LIMIT, "at least" past it) and exact, for the same kinds of filter
 * as bench/log/search.ts. Builds a fresh store of N entries over 400 days (direct appends of
 * 8,192, as the writer commits them) in a throw-away database `text_counts_<random>` on
 * SAFETYNET_BENCH_PG (default the local server), dropped afterwards.
 *
 *   npx tsx bench/log/pg-counts.ts [--count 1000000] [--runs 20] [--keep | --reuse NAME]
 *
 * `--keep` leaves the database for another run (`--reuse text_counts_…` skips building). After
 * building it runs VACUUM ANALYZE, as autovacuum would soon after a bulk load: without it every
 * text query also reads each partition's GIN pending list (measured: a rare word 250 ms instead
 * of 3 ms on 1M entries), which says more about the load than about counting.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { DEFAULT_COUNT_LIMIT } from '../../src/log/store/query.js';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import type { LogFilter } from '../../src/log/types.js';
import { createRng } from '../lib/prng.js';
import { machineInfo } from '../lib/report.js';
import { CATEGORIES, entryStream } from './entries.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const COUNT = arg('count', 1_000_000);
const RUNS = arg('runs', 20);
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
const ADMIN = process.env.SAFETYNET_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WORDS = ['checkout', 'refund', 'shipping', 'coupon', 'stock', 'timeout', 'gateway', 'discount'];

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil((xs.length * p) / 100) - 1]!;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function build(store: PostgresLogStore): Promise<string[]> {
  const next = entryStream(7);
  const span = 400 * DAY;
  const orders: string[] = [];
  const t0 = performance.now();
  for (let done = 0; done < COUNT;) {
    const n = Math.min(8192, COUNT - done);
    const rows: AppendRow[] = [];
    for (let i = 0; i < n; i++) {
      const e = next();
      rows.push({
        ts: NOW - span + Math.floor(((done + i) / COUNT) * span),
        level: e.level,
        category: e.category,
        message: e.message,
        details: JSON.stringify(e.details ?? {}),
        orderId: e.orderId ?? null,
        errorStack: e.stack ?? null,
      });
      if (e.orderId && orders.length < 200 && (done + i) % 97 === 0) orders.push(e.orderId);
    }
    await store.append(rows);
    done += n;
  }
  console.log(
    `  built ${COUNT.toLocaleString('en')} entries in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  return orders;
}

const KEEP = args.includes('--keep');
const REUSE = args.includes('--reuse') ? args[args.indexOf('--reuse') + 1] : undefined;

async function main(): Promise<void> {
  if (REUSE !== undefined && !/^text_counts_[0-9a-f]{8}$/.test(REUSE))
    throw new Error(`--reuse: "${REUSE}" is not a database this benchmark kept (text_counts_…)`);
  const name = REUSE ?? `text_counts_${randomBytes(4).toString('hex')}`;
  if (!REUSE) await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN);
  url.pathname = '/' + name;
  const store = new PostgresLogStore({ connectionString: url.toString() });
  try {
    let orders: string[];
    if (REUSE) {
      const r = await store.use('sample', (c) =>
        c.query<{ order_id: string }>(
          'SELECT order_id FROM safetynet_log.logs WHERE order_id IS NOT NULL ORDER BY id LIMIT 200',
        ),
      );
      orders = r.rows.map((x) => x.order_id);
    } else {
      orders = await build(store);
      await store.use('vacuum', (c) => c.query('VACUUM ANALYZE safetynet_log.logs'));
    }
    const rng = createRng(5);
    const range = (days: number) => {
      const since = NOW - 400 * DAY + rng.next() * (400 - days) * DAY;
      return { since, until: since + days * DAY };
    };
    const kinds: [string, (i: number) => LogFilter][] = [
      ['no filter (the Logs page as it opens)', () => ({})],
      ['one category', () => ({ categories: [rng.pick(CATEGORIES)] })],
      ['last 24 hours', () => ({ since: NOW - DAY - rng.int(0, 3_600_000) })],
      [
        'category + level + 7 days',
        () => ({ categories: [rng.pick(CATEGORIES)], level: 'warn', ...range(7) }),
      ],
      ['order id', (i) => ({ orderId: orders[i % orders.length]! })],
      ['text, rare term (a customer id)', () => ({ text: `c${rng.int(1, 50_000)}` })],
      ['text, common word (~10% of entries)', () => ({ text: rng.pick(WORDS) })],
      [
        'category + min level + 30 days + text',
        () => ({ categories: [rng.pick(CATEGORIES)], minLevel: 'warn', ...range(30), text: rng.pick(WORDS) }),
      ],
    ];
    console.log(
      `PostgreSQL per-level counts, ${COUNT.toLocaleString('en')} entries over 400 days; load ${machineInfo().loadavg.join(' ')}`,
    );
    console.log(`${'kind'.padEnd(42)}limited p50    p95  partial |  exact p50    p95`);
    for (const [kind, make] of kinds) {
      const limited: number[] = [];
      const exact: number[] = [];
      let partial = 0;
      for (let i = 0; i < RUNS + 3; i++) {
        const f = make(i);
        const t0 = performance.now();
        const r = await store.countByLevel(f, { limit: DEFAULT_COUNT_LIMIT });
        const t1 = performance.now();
        await store.countByLevel(f);
        const t2 = performance.now();
        if (i < 3) continue; // warm-up
        limited.push(t1 - t0);
        exact.push(t2 - t1);
        if (r.partial) partial++;
      }
      const f = (n: number) => n.toFixed(1).padStart(7);
      console.log(
        `${kind.padEnd(42)}${f(pct(limited, 50))}${f(pct(limited, 95))} ${String(Math.round((partial / RUNS) * 100)).padStart(6)}% | ${f(pct(exact, 50))}${f(pct(exact, 95))}`,
      );
    }
    console.log(
      `(ms; "limited" stops after ${DEFAULT_COUNT_LIMIT.toLocaleString('en')} matching entries, "partial" the share that did; goal p95 < 200 ms; load ${machineInfo().loadavg.join(' ')})`,
    );
  } finally {
    await store.close();
    if (KEEP || REUSE) console.log(`kept the database ${name} (--reuse ${name}; drop it when done)`);
    else await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

await main();
