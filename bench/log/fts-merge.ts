/**
 * What merging costs the text index, and what deferring it costs searches: the same 1M entries
 * indexed the way the store does (syncTextIndex slices of TEXT_SLICE_ROWS on one thread, from a
 * store that holds them already, as after a burst), once with FTS5's default merging (automerge 4,
 * crisismerge 16: every commit also merges earlier segments) and once as parts are made now
 * (merging off while indexing, then the idle merge steps, mergeTextStep, until nothing is left).
 * Reported: CPU per entry of indexing and of the merging after it, the segments left, and search
 * times (newest 50 matches of a common word, and the panel's per-level counts of it) on the index
 * as each phase leaves it.
 *
 *   npx tsx bench/log/fts-merge.ts [--count 1000000]
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { searchFilePath } from '../../src/log/store/sqlite/search-file.js';
import { mergeTextStep, TEXT_SLICE_ROWS } from '../../src/log/store/sqlite/text-index.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { appendRowOf, entryStream } from './entries.js';

const args = process.argv.slice(2);
const COUNT = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) : 1_000_000;
const DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '.data',
  `fts-merge-${process.pid}`,
);
const load = () => os.loadavg()[0]!.toFixed(1);

/** A store holding COUNT bench entries, 4 ms apart (all in one month: one part of the index). */
function buildStore(file: string): void {
  const store = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
  const next = entryStream(42);
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < COUNT; i += 50_000) {
    const rows: AppendRow[] = [];
    for (let j = i; j < Math.min(COUNT, i + 50_000); j++) {
      const e = next();
      rows.push(appendRowOf(e, t0 + j * 4));
    }
    store.appendSync(rows);
  }
  store.closeSync();
}

const cpuUs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return d.user + d.system;
};

/** Median ms of `n` runs of `fn`. */
async function timed(n: number, fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

async function searches(store: SqliteLogStore): Promise<string> {
  const c = store.searchConnection();
  const segs = c.db.prepare('SELECT count(DISTINCT segid) FROM idx.fts_1_idx').pluck().get() as number;
  const page = await timed(9, () => store.search({ text: 'refund' }, { limit: 50 }));
  const counts = await timed(5, () => store.countByLevel({ text: 'refund' }));
  return `${String(segs).padStart(4)} segments; newest 50 matches ${page.toFixed(2)} ms, per-level counts ${counts.toFixed(1)} ms`;
}

/** Indexes the store's entries one slice at a time; `defaultMerging` gives the part FTS5's own policy. */
async function run(base: string, label: string, defaultMerging: boolean): Promise<void> {
  const file = path.join(DIR, `${label}.sqlite`);
  copyFileSync(base, file);
  rmSync(searchFilePath(file), { force: true }); // the last round's
  rmSync(`${searchFilePath(file)}-wal`, { force: true });
  const store = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let done = store.indexTextSync(TEXT_SLICE_ROWS);
  if (defaultMerging) {
    const db = store.searchConnection().db;
    db.exec("INSERT INTO idx.fts_1 (fts_1, rank) VALUES ('automerge', 4)");
    db.exec("INSERT INTO idx.fts_1 (fts_1, rank) VALUES ('crisismerge', 16)");
  }
  for (let n = done; n > 0; done += n) n = store.indexTextSync(TEXT_SLICE_ROWS);
  if (done !== COUNT) throw new Error(`indexed ${done} of ${COUNT} entries`);
  const indexUs = cpuUs(c0) / COUNT;
  const indexS = (performance.now() - t0) / 1000;
  console.log(
    `${label.padEnd(22)} index: ${indexUs.toFixed(2)} µs CPU per entry, ${indexS.toFixed(2)} s; ${await searches(store)}`,
  );
  const m0 = process.cpuUsage();
  let steps = 0;
  let longest = 0;
  for (;;) {
    const t = performance.now();
    if (!mergeTextStep(store.searchConnection())) break;
    longest = Math.max(longest, performance.now() - t);
    steps++;
  }
  console.log(
    `${''.padEnd(22)} then ${String(steps).padStart(4)} idle merge steps (longest ${longest.toFixed(0)} ms): ${(cpuUs(m0) / COUNT).toFixed(2)} µs per entry; ${await searches(store)}`,
  );
  store.closeSync();
}

async function main(): Promise<void> {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const base = path.join(DIR, 'base.sqlite');
  console.log(
    `text index merging: ${COUNT.toLocaleString('en')} entries, slices of ${TEXT_SLICE_ROWS}; load ${load()}`,
  );
  buildStore(base);
  // Twice each, alternating, on a noisy machine.
  for (const round of [1, 2]) {
    console.log(`round ${round}, load ${load()}`);
    await run(base, 'FTS5 default merging', true);
    await run(base, 'deferred (the store)', false);
  }
  rmSync(DIR, { recursive: true, force: true });
}

await main();
