/**
 * Retention in the SQLite store: per-category deletes in bounded batches with pauses between, the
 * deleted chain runs recorded so verification still passes, and text-index upkeep afterwards.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PRUNE_PAUSE_MS, storeError } from './sqlite-common.js';
import type { SqliteLogStore } from './sqlite-store.js';
import { compactTextIndex, mergeTextIndex } from './sqlite-text-index.js';
import type { PruneOptions, PruneReport } from './types.js';
import { startPruneReport } from './prune-report.js';

const DEFAULT_PRUNE_BATCH = 1000;

interface PrunedRow {
  id: number;
  category: string;
  seq: number;
  hash: Buffer;
}

export async function prune(s: SqliteLogStore, options: PruneOptions): Promise<PruneReport> {
  const batchSize = options.batchSize ?? DEFAULT_PRUNE_BATCH;
  const pauseMs = options.pauseMs ?? DEFAULT_PRUNE_PAUSE_MS;
  const categories = await s.categories();
  const { report, cutoffOf, count } = startPruneReport(categories, options);
  if (categories.length === 0) return report;
  if (options.dryRun) {
    for (const c of categories) {
      count(
        c,
        Number(s.stmt('SELECT count(*) FROM logs WHERE category = ? AND ts < ?').pluck().get(c, cutoffOf(c))),
      );
    }
    return report;
  }
  const batch = async (work: () => Map<string, number>): Promise<boolean> => {
    const t0 = performance.now();
    const done = work();
    report.longestBatchMs = Math.max(report.longestBatchMs, performance.now() - t0);
    // Copy what this batch wrote from the WAL into the database now, on our time: otherwise a
    // writer's next commit does it (SQLite's autocheckpoint runs in whoever commits) and waits.
    s.db.pragma('wal_checkpoint(PASSIVE)');
    let n = 0;
    for (const [c, k] of done) {
      count(c, k);
      n += k;
    }
    if (n === 0) return false;
    report.batches++;
    // Let writers waiting on the lock in (their busy handler retries every few ms).
    await sleep(pauseMs);
    return n >= batchSize;
  };
  // Phase 1: what every category has let go of, oldest first. Rows are in time order on disk
  // (ids follow time), so each batch rewrites a few neighbouring pages, not a page per row.
  const common = Math.min(...categories.map(cutoffOf));
  while (await batch(() => pruneOldestSync(s, common, batchSize))) {
    // next batch
  }
  // Phase 2: categories kept for less time than others, one at a time.
  for (const c of categories) {
    if (cutoffOf(c) <= common) continue;
    while (await batch(() => new Map([[c, pruneBatchSync(s, c, cutoffOf(c), batchSize)]]))) {
      // next batch
    }
  }
  // The daily prune is the maintenance window: tidy the text index too (same-level merges,
  // short steps). Dropping deleted entries from it for good is compactTextIndex's job (`--compact`).
  let longest = await mergeTextIndex(s, pauseMs);
  if (options.compactTextIndex) longest = Math.max(longest, await compactTextIndex(s, pauseMs));
  report.longestBatchMs = Math.max(report.longestBatchMs, longest);
  if (report.total > 0) s.db.pragma('optimize');
  return report;
}

/** Deletes up to `limit` entries of `category` older than `cutoff` in one transaction. */
export function pruneBatchSync(s: SqliteLogStore, category: string, cutoff: number, limit: number): number {
  const pick = s.stmt(
    'SELECT id, category, seq, hash FROM logs WHERE category = ? AND ts < ? ORDER BY ts LIMIT ?',
  );
  return deleteRowsSync(s, () => pick.all(category, cutoff, limit) as PrunedRow[]).get(category) ?? 0;
}

/** Deletes up to `limit` of the oldest entries (any category) older than `cutoff`; counts per category. */
export function pruneOldestSync(s: SqliteLogStore, cutoff: number, limit: number): Map<string, number> {
  const pick = s.stmt('SELECT id, category, seq, hash FROM logs WHERE ts < ? ORDER BY ts LIMIT ?');
  return deleteRowsSync(s, () => pick.all(cutoff, limit) as PrunedRow[]);
}

/** In one transaction: picks rows, deletes them (and their index entries), records the chain gaps. */
function deleteRowsSync(s: SqliteLogStore, pick: () => PrunedRow[]): Map<string, number> {
  const run = (): Map<string, number> => {
    const rows = pick();
    const byCategory = new Map<string, PrunedRow[]>();
    if (rows.length === 0) return new Map();
    const ids = JSON.stringify(rows.map((r) => r.id));
    s.stmt('DELETE FROM logs WHERE id IN (SELECT value FROM json_each(?))').run(ids);
    const upto = Number(s.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0);
    const gone = s
      .stmt('DELETE FROM logs_fts WHERE rowid IN (SELECT value FROM json_each(?) WHERE value <= ?)')
      .run(ids, upto).changes;
    if (gone > 0) {
      s.stmt(
        "INSERT INTO meta (key, value) VALUES ('fts_deleted', ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
      ).run(gone);
    }
    for (const r of rows) {
      let list = byCategory.get(r.category);
      if (!list) byCategory.set(r.category, (list = []));
      list.push(r);
    }
    const webhooks = byCategory.get('webhook');
    if (webhooks) {
      s.stmt('DELETE FROM webhook_events WHERE first_id IN (SELECT value FROM json_each(?))').run(
        JSON.stringify(webhooks.map((r) => r.id)),
      );
    }
    const counts = new Map<string, number>();
    for (const [category, list] of byCategory) {
      recordPruned(s, category, list);
      counts.set(category, list.length);
    }
    return counts;
  };
  try {
    return s.db.transaction(run).immediate();
  } catch (err) {
    throw storeError(s.file, 'prune', err);
  }
}

/** Records the deleted seq runs (merged with touching runs) so verification skips them legitimately. */
function recordPruned(s: SqliteLogStore, category: string, rows: { seq: number; hash: Buffer }[]): void {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const byTo = s.stmt('SELECT from_seq, count FROM chain_pruned WHERE category = ? AND to_seq = ?');
  const byFrom = s.stmt(
    'SELECT to_seq, last_hash, count FROM chain_pruned WHERE category = ? AND from_seq = ?',
  );
  const del = s.stmt('DELETE FROM chain_pruned WHERE category = ? AND to_seq = ?');
  const ins = s.stmt(
    'INSERT INTO chain_pruned (category, from_seq, to_seq, last_hash, count, pruned_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]!.seq === sorted[j]!.seq + 1) j++;
    let from = sorted[i]!.seq;
    let to = sorted[j]!.seq;
    let last = sorted[j]!.hash;
    let count = j - i + 1;
    const before = byTo.get(category, from - 1) as { from_seq: number; count: number } | undefined;
    if (before) {
      del.run(category, from - 1);
      from = before.from_seq;
      count += before.count;
    }
    const after = byFrom.get(category, to + 1) as
      { to_seq: number; last_hash: Buffer; count: number } | undefined;
    if (after) {
      del.run(category, after.to_seq);
      to = after.to_seq;
      last = after.last_hash;
      count += after.count;
    }
    ins.run(category, from, to, last, count, s.now());
    i = j + 1;
  }
}
