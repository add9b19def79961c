/**
 * How the full-text index's catch-up rate grows with the store: appends entries in steps (no
 * indexing, as the writer does during a burst), then indexes each step the way the writer's idle
 * work does (`maintain(budget)` calls), and prints the indexing rate at each store size.
 *
 *   npx tsx bench/log/fts-growth.ts [--total 2000000] [--step 250000] [--budget 1000]
 *
 * `--budget` is the rows the writer asks for per idle slice (the store may round it up, see
 * indexFtsSync). The 10M-entry fixture of bench/log/search.ts shows the same curve further out.
 */
import { mkdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteLogStore } from '../../src/log/store/sqlite-store.js';
import { FTS_SLICE_ROWS } from '../../src/log/store/sqlite-text-index.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { entryStream } from './entries.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TOTAL = arg('total', 2_000_000);
const STEP = arg('step', 250_000);
const SLICE = arg('slice', FTS_SLICE_ROWS);
/** FTS5 settings to try (0: the store's own); see https://sqlite.org/fts5.html#fts5_options. */
const TRY = { automerge: arg('automerge', 0), crisismerge: arg('crisismerge', 0), pgsz: arg('pgsz', 0) };
const DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '.data',
  `fts-growth-${process.pid}`,
);

async function main(): Promise<void> {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const store = SqliteLogStore.open(path.join(DIR, 'logs.sqlite'));
  const cacheMb = arg('cache-mb', 0);
  if (cacheMb > 0) store.db.pragma(`cache_size = -${Math.floor(cacheMb * 1024)}`);
  for (const [k, v] of Object.entries(TRY))
    if (v > 0) store.db.exec(`INSERT INTO logs_fts (logs_fts, rank) VALUES ('${k}', ${Math.floor(v)})`);
  const next = entryStream(11);
  const t0 = Date.UTC(2026, 0, 1);
  console.log(
    `text-index growth: ${TOTAL.toLocaleString('en')} entries in steps of ${STEP.toLocaleString('en')}, slices of ${SLICE}, ${JSON.stringify(TRY)}; load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log('store size | append /s | index /s | index CPU µs/entry | index pages');
  for (let done = 0; done < TOTAL; done += STEP) {
    const a0 = performance.now();
    for (let i = 0; i < STEP; i += 8192) {
      const rows: AppendRow[] = [];
      for (let j = i; j < Math.min(STEP, i + 8192); j++) {
        const e = next();
        rows.push({
          ts: t0 + (done + j) * 1000,
          level: e.level,
          category: e.category,
          message: e.message,
          details: e.details ? JSON.stringify(e.details) : '{}',
          orderId: e.orderId ?? null,
          errorStack: e.stack ?? null,
        });
      }
      await store.append(rows, { deferIndex: true });
    }
    const a1 = performance.now();
    const c1 = process.cpuUsage();
    while (store.indexFtsSync(SLICE) === SLICE) {
      // as the writer's idle loop: slice after slice until caught up
    }
    const a2 = performance.now();
    const cpu = process.cpuUsage(c1);
    const segs = store.db
      .prepare('SELECT count(*) FROM logs_fts_data WHERE id >= 137438953472')
      .pluck()
      .get() as number;
    console.log(
      `${(done + STEP).toLocaleString('en').padStart(10)} | ${Math.round((STEP / (a1 - a0)) * 1000)
        .toLocaleString('en')
        .padStart(9)} | ${Math.round((STEP / (a2 - a1)) * 1000)
        .toLocaleString('en')
        .padStart(8)} | ${((cpu.user + cpu.system) / STEP).toFixed(1).padStart(17)} | ${segs}`,
    );
  }
  console.log(
    `load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  store.closeSync();
  rmSync(DIR, { recursive: true, force: true });
}

await main();
