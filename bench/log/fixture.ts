/**
 * The 10,000,000-entry log store for the search and retention benchmarks (DESIGN.md §7): 400 days,
 * all categories and levels, ~5% with an order id, ~1% errors with stacks, deterministic from a
 * seed. Built once into bench/.data/ through the store's own append path (so the hash chains and
 * the full-text index are the real ones) and reused while its parameters match.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { appendRowOf, entryStream } from './entries.js';

export const DATA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.data');
const DAY = 86_400_000;

export interface FixtureInfo {
  file: string;
  count: number;
  days: number;
  /** Timestamp of the newest entry (the benchmark's "now"). */
  endMs: number;
  seed: number;
  version: number;
}

/** Bumped when the fixture's content or layout changes (6: the text index in its search file). */
const FIXTURE_VERSION = 6;

/** Path and parameters of the fixture, building it first when missing or different. */
export async function ensureLogFixture(count = 10_000_000, days = 400, seed = 7): Promise<FixtureInfo> {
  const dir = path.join(DATA_DIR, `log-fixture-${count}`);
  const file = path.join(dir, 'logs.sqlite');
  const marker = path.join(dir, 'fixture.json');
  const endMs = Date.UTC(2026, 10, 1);
  const want: FixtureInfo = { file, count, days, endMs, seed, version: FIXTURE_VERSION };
  if (existsSync(marker) && existsSync(file)) {
    const have = JSON.parse(readFileSync(marker, 'utf8')) as FixtureInfo;
    if (JSON.stringify(have) === JSON.stringify(want)) return want;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const store = SqliteLogStore.open(file);
  const next = entryStream(seed);
  const startMs = endMs - days * DAY;
  const step = (days * DAY) / count;
  const BATCH = 50_000;
  let batch: AppendRow[] = [];
  for (let i = 0; i < count; i++) {
    const e = next();
    const ts = Math.floor(startMs + i * step);
    batch.push(appendRowOf(e, ts));
    if (batch.length === BATCH) {
      store.appendSync(batch);
      batch = [];
      if ((i + 1) % 1_000_000 === 0) {
        process.stderr.write(
          `  fixture: ${(i + 1) / 1e6}M entries, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
        );
      }
    }
  }
  if (batch.length) store.appendSync(batch);
  const t1 = performance.now();
  process.stderr.write(`  fixture: full-text index and counts…\n`);
  // As the writer's indexer does it (slices of TEXT_SLICE_ROWS), then the merging a daily prune does.
  for (let done = 0, n = 1; n > 0; done += n) {
    n = store.indexTextSync(1_000_000);
    if (n > 0) process.stderr.write(`  fixture: indexed ${((done + n) / 1e6).toFixed(0)}M\n`);
  }
  await store.mergeTextIndex(0);
  process.stderr.write(
    `  fixture: appended in ${((t1 - t0) / 1000).toFixed(0)} s, indexed in ${((performance.now() - t1) / 1000).toFixed(0)} s\n`,
  );
  store.db.exec('ANALYZE');
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.closeSync();
  writeFileSync(marker, JSON.stringify(want));
  process.stderr.write(`  fixture built in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  return want;
}
