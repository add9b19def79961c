/**
 * PostgreSQL log store at size: builds a store of N entries spread over 400 days (direct appends
 * of 8,192, as the writer thread commits them), then measures
 *   - search p95 (first page of 50): category + level + 7 days, order id, a rare text, all filters
 *     together, and per-level counts for a common word over the whole store;
 *   - retention while a writer appends 100 entries every 10 ms: the writer's longest append
 *     before and during the prune, the time to remove the oldest week partitions (DETACH …
 *     CONCURRENTLY + DROP, plus batch deletes of the days before the cutoff in the next week), and
 *     the per-category clean-up inside the partitions that stay.
 * Fresh database on SAFETYNET_BENCH_PG (default the local server), dropped afterwards; or, with
 * `--db NAME`, a fixture kept between runs: built on the first run (two writers at once), reused
 * after, searched only (retention would change it: bench/log/pg-prune.ts measures retention).
 *
 *   npx tsx bench/log/pg-search.ts [--count 1000000] [--runs 20] [--db pglog_search_10m]
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { retentionCutoffs } from '../../src/log/retention.js';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import type { LogFilter } from '../../src/log/types.js';
import { machineInfo } from '../lib/report.js';
import { entryStream } from './entries.js';
import { benchDatabase, dropBenchDatabase, freshBenchDatabase, markBenchDatabaseComplete } from './pg-db.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const COUNT = arg('count', 1_000_000);
const RUNS = arg('runs', 20);
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1]!;

const KEEP = args.includes('--db') ? args[args.indexOf('--db') + 1] : undefined;

/** Builds the store with two writers at once (each a store object of its own), oldest first. */
async function build(store: PostgresLogStore, url: string): Promise<void> {
  const second = new PostgresLogStore({ connectionString: url });
  const next = entryStream(7);
  const span = 400 * DAY;
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let done = 0, turn = 0; done < COUNT; turn++) {
    const n = Math.min(8192, COUNT - done);
    const rows: AppendRow[] = new Array<AppendRow>(n);
    for (let i = 0; i < n; i++) {
      const e = next();
      const ts = NOW - span + Math.floor(((done + i) / COUNT) * span);
      rows[i] = {
        ts,
        level: e.level,
        category: e.category,
        message: e.message,
        details: JSON.stringify(e.details ?? {}),
        orderId: e.orderId ?? null,
        errorStack: e.stack ?? null,
      };
    }
    pending.push((turn % 2 ? second : store).append(rows));
    if (pending.length >= 2) await pending.shift();
    done += n;
    if (done % 500_000 < n)
      console.log(`  built ${done.toLocaleString('en')} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  await Promise.all(pending);
  await second.close();
  console.log(
    `  build: ${((performance.now() - t0) / 1000).toFixed(1)} s, ${Math.round((COUNT / (performance.now() - t0)) * 1000).toLocaleString('en')} entries/s`,
  );
}

/** An order id from the newer half of the store (as the build's seeded stream produces them). */
async function someOrderId(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ order_id: string }>(
      `SELECT order_id FROM safetynet_log.logs WHERE order_id IS NOT NULL AND ts > $1 ORDER BY ts LIMIT 1`,
      [NOW - 200 * DAY],
    );
    return r.rows[0]!.order_id;
  } finally {
    await c.end();
  }
}

async function searches(store: PostgresLogStore, orderId: string): Promise<void> {
  const week = { since: NOW - 7 * DAY, until: NOW };
  const cases: [string, () => Promise<unknown>][] = [
    ['category + level + 7 days', () => store.search({ categories: ['payment'], level: 'warn', ...week })],
    ['order id', () => store.search({ orderId })],
    ['rare text (a customer)', () => store.search({ text: 'c31337' })],
    ['common text', () => store.search({ text: 'refund' })],
    [
      'all filters',
      () =>
        store.search({
          categories: ['payment', 'order'],
          minLevel: 'warn',
          ...week,
          text: 'refund',
          orderId,
        }),
    ],
    ['counts per level, common word, whole store', () => store.countByLevel({ text: 'refund' } as LogFilter)],
  ];
  for (const [name, run] of cases) {
    await run();
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(44)} p95 ${p95(times).toFixed(1)} ms (median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms)`,
    );
  }
}

async function retention(store: PostgresLogStore, url: string): Promise<void> {
  const writer = new PostgresLogStore({ connectionString: url });
  const latencies: number[] = [];
  let phase = 'before';
  const byPhase = new Map<string, number[]>();
  let writing = true;
  let n = 0;
  const loop = (async () => {
    while (writing) {
      const t0 = performance.now();
      await writer.append(
        Array.from({ length: 100 }, (_, i) => ({
          ts: NOW + n + i,
          level: 'info' as const,
          category: 'order',
          message: `live ${n + i}`,
          details: '{}',
          orderId: null,
          errorStack: null,
        })),
      );
      const ms = performance.now() - t0;
      latencies.push(ms);
      (byPhase.get(phase) ?? byPhase.set(phase, []).get(phase)!).push(ms);
      n += 100;
      await sleep(10);
    }
  })();
  await sleep(3000);
  phase = 'one day';
  // The oldest whole week partitions first (every category has let them go 392 days back).
  let t0 = performance.now();
  const day = await store.prune({ cutoffs: {}, defaultCutoff: NOW - 392 * DAY });
  const dayMs = performance.now() - t0;
  phase = 'retention';
  t0 = performance.now();
  const full = await store.prune(retentionCutoffs({ default: 90, payment: 365, order: 365 }, NOW));
  const fullMs = performance.now() - t0;
  phase = 'after';
  await sleep(1000);
  writing = false;
  await loop;
  await writer.close();
  const max = (k: string) => Math.max(...(byPhase.get(k) ?? [0]));
  console.log(
    `  remove the oldest days (${day.total.toLocaleString('en')} entries, ${day.batches} partition drops/batches, longest ${day.longestBatchMs.toFixed(0)} ms): ${dayMs.toFixed(0)} ms; writer's longest append meanwhile ${max('one day').toFixed(1)} ms`,
  );
  console.log(
    `  full retention (90 days; payment, order 365): ${full.total.toLocaleString('en')} entries in ${(fullMs / 1000).toFixed(1)} s (${full.batches} partitions/batches, longest ${full.longestBatchMs.toFixed(0)} ms); writer's longest append ${max('retention').toFixed(1)} ms`,
  );
  console.log(
    `  writer's longest append without retention running: ${Math.max(max('before'), max('after')).toFixed(1)} ms (p95 ${p95([...(byPhase.get('before') ?? []), ...(byPhase.get('after') ?? [])]).toFixed(1)} ms)`,
  );
}

async function main(): Promise<void> {
  console.log(
    `PostgreSQL log store at ${COUNT.toLocaleString('en')} entries over 400 days`,
    machineInfo().cpuModel,
  );
  const { url, fresh } = KEEP ? await benchDatabase(KEEP) : { url: await freshBenchDatabase(), fresh: true };
  const store = new PostgresLogStore({ connectionString: url, now: () => NOW });
  try {
    if (fresh) {
      await build(store, url);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('VACUUM ANALYZE safetynet_log.logs');
      await c.end();
      if (KEEP) await markBenchDatabaseComplete(url);
    }
    console.log(`  load ${machineInfo().loadavg.join(' ')}`);
    await searches(store, await someOrderId(url));
    if (!KEEP) await retention(store, url);
  } finally {
    await store.close();
    if (!KEEP) await dropBenchDatabase(url);
  }
}

await main();
