/**
 * Retention in the SQLite store: per-category deletes in bounded batches with pauses between, the
 * deleted chain runs recorded so verification still passes, and the search file told what to
 * forget (each batch's entries go to `text_pending` in the delete's own transaction, and the
 * search file applies them right after: see sqlite/text-index.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PRUNE_PAUSE_MS, storeError } from './common.js';
import { hasLegacyTextIndex } from './schema.js';
import type { SqliteLogStore } from './store.js';
import { BODY_SQL, compactTextIndex, mergeTextIndex, syncTextIndex } from './text-index.js';
import type { PruneOptions, PruneReport } from '../types.js';
import { startPruneReport } from '../prune-report.js';

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
    // The search file forgets the batch now (its own lock: writers of the store do not wait).
    if (done.size > 0) applyToSearchFile(s);
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
  forgetApplied(s);
  // The daily prune is the maintenance window: tidy the text index too (same-level merges,
  // short steps). Dropping deleted entries from it for good is compactTextIndex's job (`--compact`).
  const search = s.searchConnection();
  let longest = await mergeTextIndex(search, pauseMs);
  if (options.compactTextIndex) longest = Math.max(longest, await compactTextIndex(search, pauseMs));
  report.longestBatchMs = Math.max(report.longestBatchMs, longest);
  dropLegacyTextIndex(s);
  if (report.total > 0) s.db.pragma('optimize');
  return report;
}

/**
 * Applies recorded retention batches to the search file (indexing nothing new), then empties them
 * from `text_pending`: one batch's rows at a time, so the store's lock is held for milliseconds (all
 * of a run's at the end held it for a second: the writer waited 660 ms, bench/log/prune.ts).
 */
function applyToSearchFile(s: SqliteLogStore): void {
  try {
    syncTextIndex(s.searchConnection(), 0);
  } catch {
    // Busy or damaged: the batches stay recorded and the next step (the writer's) applies them.
    return;
  }
  forgetApplied(s);
}

/** Empties `text_pending` of the batches the search file has applied. */
function forgetApplied(s: SqliteLogStore): void {
  const c = s.searchConnection();
  if (!c.attached) return;
  const applied = Number(c.stmt("SELECT value FROM idx.meta WHERE key = 'applied'").pluck().get() ?? 0);
  try {
    s.db.transaction(() => s.stmt('DELETE FROM text_pending WHERE batch <= ?').run(applied)).immediate();
  } catch (err) {
    throw storeError(s.file, 'prune', err);
  }
}

/**
 * Drops a schema-1 store's own text index once the search file covers everything it did (one
 * write transaction; on a large store it takes a second or two, so it happens here, in the
 * maintenance window, rather than in the writer).
 */
function dropLegacyTextIndex(s: SqliteLogStore): void {
  if (!hasLegacyTextIndex(s.db)) return;
  const caughtUp = s.searchConnection().read((st) => st.usable && st.upto >= st.legacyUpto);
  if (!caughtUp) return;
  try {
    s.db
      .transaction(() => {
        s.db.exec('DROP TABLE IF EXISTS logs_fts');
        s.stmt("DELETE FROM meta WHERE key IN ('fts_upto', 'fts_deleted')").run();
      })
      .immediate();
  } catch (err) {
    throw storeError(s.file, 'drop the old text index of', err);
  }
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

/**
 * In one transaction: picks rows, records them for the search file (text_pending, with the text
 * that was indexed), deletes them, records the chain gaps.
 */
function deleteRowsSync(s: SqliteLogStore, pick: () => PrunedRow[]): Map<string, number> {
  const run = (): Map<string, number> => {
    const rows = pick();
    const byCategory = new Map<string, PrunedRow[]>();
    if (rows.length === 0) return new Map();
    const ids = JSON.stringify(rows.map((r) => r.id));
    const batch = Number(s.stmt("SELECT value FROM meta WHERE key = 'text_batch'").pluck().get() ?? 0) + 1;
    s.stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('text_batch', ?)").run(batch);
    s.stmt(
      `INSERT INTO text_pending (batch, id, ts, category, level, message, body)
       SELECT ?, l.id, l.ts, l.category, l.level, l.message, ${BODY_SQL} FROM logs l
       WHERE l.id IN (SELECT value FROM json_each(?))`,
    ).run(batch, ids);
    s.stmt('DELETE FROM logs WHERE id IN (SELECT value FROM json_each(?))').run(ids);
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
