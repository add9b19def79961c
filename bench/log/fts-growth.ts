/**
 * How the text index's catch-up rate holds up as the store grows (issue 13, "How it grows"):
 * appends entries in steps without indexing them (as the writer does during a burst), then
 * indexes each step the way the store does (syncTextIndex slices of TEXT_SLICE_ROWS on one
 * thread), then merges as the indexer thread does once caught up, and prints the indexing rate
 * and CPU per entry (indexing, then merging) at each store size. The last step of the
 * default run is "a further 1M on a store already holding 10M" (goal: >= 50,000 entries/s).
 *
 *   npx tsx bench/log/fts-growth.ts [--total 11000000] [--step 1000000]
 *   npx tsx bench/log/fts-growth.ts --old [--total 3000000] [--step 500000]
 *
 * `--old` runs the design this replaced, for comparison on the same machine: one contentless FTS5
 * table with contentless_delete inside the store file, rows copied through JavaScript, slices of
 * 5,000 (slow past 1M entries: a 10M run takes about 20 minutes).
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { searchFilePath } from '../../src/log/store/sqlite/search-file.js';
import { mergeTextStep, TEXT_SLICE_ROWS } from '../../src/log/store/sqlite/text-index.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { appendRowOf, entryStream } from './entries.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const OLD = args.includes('--old');
const TOTAL = arg('total', OLD ? 3_000_000 : 11_000_000);
const STEP = arg('step', OLD ? 500_000 : 1_000_000);
const DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '.data',
  `fts-growth-${process.pid}`,
);
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** The replaced design's indexing (see the header), on the store's own connection. */
function oldIndexer(store: SqliteLogStore): () => number {
  const db = store.db;
  db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS old_fts USING fts5 (
    message, body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')`);
  db.exec("INSERT INTO old_fts (old_fts, rank) VALUES ('deletemerge', 0)");
  let upto = 0;
  const select = db.prepare(
    `SELECT id, message, CASE WHEN category = 'webhook' AND json_valid(details)
       AND json_extract(details, '$.rawBodyEncoding') = 'utf8' THEN json_extract(details, '$.rawBody') END AS body
     FROM logs WHERE id > ? ORDER BY id LIMIT 5000`,
  );
  const insert = db.prepare('INSERT INTO old_fts (rowid, message, body) VALUES (?, ?, ?)');
  return () => {
    const rows = select.all(upto) as { id: number; message: string; body: string | null }[];
    db.pragma('synchronous = NORMAL');
    db.transaction(() => {
      for (const r of rows) insert.run(r.id, r.message, r.body ?? '');
    }).immediate();
    db.pragma('synchronous = FULL');
    if (rows.length) upto = rows[rows.length - 1]!.id;
    return rows.length;
  };
}

async function main(): Promise<void> {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, 'logs.sqlite');
  // Indexing on this thread only, so its CPU time is the indexing's.
  const store = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
  const old = OLD ? oldIndexer(store) : undefined;
  const next = entryStream(11);
  const t0 = Date.UTC(2025, 0, 1);
  // 10M entries over 400 days, like the search fixture: 25,000 a day.
  const spacing = 3456;
  console.log(
    `text-index growth (${OLD ? 'OLD design: one FTS5 table in the store' : 'search file, parts'}): ${TOTAL.toLocaleString('en')} entries in steps of ${STEP.toLocaleString('en')}; load ${load()}`,
  );
  console.log(
    'store size  | append /s | index /s | index CPU µs/entry | then merging µs/entry | search file MB | load',
  );
  const results: { size: number; rate: number; cpu: number }[] = [];
  for (let done = 0; done < TOTAL; done += STEP) {
    const a0 = performance.now();
    for (let i = 0; i < STEP; i += 50_000) {
      const rows: AppendRow[] = [];
      for (let j = i; j < Math.min(STEP, i + 50_000); j++) {
        const e = next();
        rows.push(appendRowOf(e, t0 + (done + j) * spacing));
      }
      store.appendSync(rows);
    }
    const a1 = performance.now();
    const c1 = process.cpuUsage();
    if (old) while (old() > 0);
    else while (store.indexTextSync(TEXT_SLICE_ROWS * 20) > 0);
    const a2 = performance.now();
    const cpu = process.cpuUsage(c1);
    // Then the merging the indexer thread does once caught up (text-index.ts, PART_CRISIS_MERGE).
    const m1 = process.cpuUsage();
    if (!old) while (mergeTextStep(store.searchConnection()));
    const merge = process.cpuUsage(m1);
    const mergeUs = (merge.user + merge.system) / STEP;
    const size = done + STEP;
    const rate = (STEP / (a2 - a1)) * 1000;
    const cpuUs = (cpu.user + cpu.system) / STEP;
    results.push({ size, rate, cpu: cpuUs });
    let mb = 0;
    try {
      mb = statSync(searchFilePath(file)).size / 1e6;
    } catch {
      // --old: no search file
    }
    console.log(
      `${size.toLocaleString('en').padStart(11)} | ${Math.round((STEP / (a1 - a0)) * 1000)
        .toLocaleString('en')
        .padStart(
          9,
        )} | ${Math.round(rate).toLocaleString('en').padStart(8)} | ${cpuUs.toFixed(1).padStart(18)} | ${mergeUs.toFixed(1).padStart(21)} | ${mb
        .toFixed(0)
        .padStart(14)} | ${os.loadavg()[0]!.toFixed(1)}`,
    );
  }
  console.log('\nthe curve (indexing rate, entries/s, at that store size; CPU µs per entry):');
  for (const want of [1_000_000, 5_000_000, 10_000_000, 11_000_000]) {
    const r = results.find((x) => x.size === want);
    if (r)
      console.log(
        `  ${(want / 1e6).toFixed(0).padStart(2)}M: ${Math.round(r.rate).toLocaleString('en')}/s, ${r.cpu.toFixed(1)} µs${want === 11_000_000 ? '  <- a further 1M on a 10M store (goal >= 50,000/s)' : ''}`,
      );
  }
  console.log(`load ${load()}`);
  store.closeSync();
  rmSync(DIR, { recursive: true, force: true });
}

await main();
