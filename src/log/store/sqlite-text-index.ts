/**
 * The SQLite store's full-text index (contentless FTS5, see sqlite-schema.ts): filling it just
 * after entries commit, and maintaining it after retention (merge and compact steps).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PRUNE_PAUSE_MS, storeError } from './sqlite-common.js';
import type { SqliteLogStore } from './sqlite-store.js';

/**
 * Entries per indexing transaction. Each transaction writes one new FTS5 segment and pays the
 * index's fixed per-commit costs, so small slices make the index slower to fill and the later
 * merging heavier: bench/log/fts-growth.ts measured 40-45k entries/s with slices of 1,000 and
 * 55-64k/s with 5,000 on the same (loaded) machine. The slice is also how long a batch that
 * arrives meanwhile waits (about 0.1 s at 50k/s), so it is not larger.
 */
export const FTS_SLICE_ROWS = 5000;

/**
 * Adds entries committed since the last call to the full-text index, at most `maxRows` of them
 * (in transactions of FTS_SLICE_ROWS). Returns how many were indexed. The index is derived data,
 * so these transactions do not wait for fsync (a crash re-indexes from the watermark).
 */
export function indexFtsSync(s: SqliteLogStore, maxRows = FTS_SLICE_ROWS): number {
  let total = 0;
  const batch = Math.min(maxRows, FTS_SLICE_ROWS);
  const select = s.stmt(
    `SELECT id, message, CASE WHEN category = 'webhook' AND json_valid(details)
       AND json_extract(details, '$.rawBodyEncoding') = 'utf8' THEN json_extract(details, '$.rawBody') END AS body
     FROM logs WHERE id > ? ORDER BY id LIMIT ?`,
  );
  const insert = s.stmt('INSERT INTO logs_fts (rowid, message, body) VALUES (?, ?, ?)');
  const getMeta = s.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck();
  const setMeta = s.stmt("UPDATE meta SET value = ? WHERE key = 'fts_upto'");
  while (total < maxRows) {
    let n = 0;
    const step = () => {
      const upto = Number(getMeta.get() ?? 0);
      const rows = select.all(upto, Math.min(batch, maxRows - total)) as {
        id: number;
        message: string;
        body: string | null;
      }[];
      for (const r of rows) insert.run(r.id, r.message, r.body ?? '');
      if (rows.length) setMeta.run(rows[rows.length - 1]!.id);
      n = rows.length;
    };
    s.db.pragma('synchronous = NORMAL');
    try {
      s.db.transaction(step).immediate();
    } catch (err) {
      throw storeError(s.file, 'index', err);
    } finally {
      s.db.pragma('synchronous = FULL');
    }
    total += n;
    if (n === 0) break;
  }
  return total;
}

/** Entries committed but not yet in the full-text index. */
export function ftsBacklog(s: SqliteLogStore): number {
  const upto = Number(s.stmt("SELECT value FROM meta WHERE key = 'fts_upto'").pluck().get() ?? 0);
  const next = Number(s.stmt("SELECT value FROM meta WHERE key = 'next_id'").pluck().get() ?? 1);
  return Math.max(0, next - 1 - upto);
}

/**
 * Maintains the full-text index after a prune: FTS5 'merge' steps with a positive page budget
 * (merging segments of the same level, as automerge does while inserting) in short transactions
 * with pauses between, until there is nothing left to merge. Fewer segments make the per-entry
 * checks of a text search cheaper. (A negative budget, an incremental full 'optimize', is not
 * used: run while other processes write, it kept adding levels until FTS5 refused to write.)
 * Returns the longest step, ms.
 */
export async function mergeTextIndex(
  s: SqliteLogStore,
  pauseMs = DEFAULT_PRUNE_PAUSE_MS,
  pagesPerStep = 64,
  maxSteps = 2000,
): Promise<number> {
  const { longest } = await ftsMergeSteps(s, pagesPerStep, pauseMs, maxSteps, 'throw');
  return longest;
}

/**
 * Rewrites the text index without the entries retention deleted (FTS5 'merge' with a negative
 * page budget: an incremental 'optimize'), with pauses between steps. Deleted entries otherwise
 * stay in the index as tombstones (skipped by searches, but taking space). Measured on 10M
 * entries: about 200 steps, 23 s, and a few steps hold the write lock for 2-3 s (a common word's
 * whole posting list is rewritten at once), so run it at a quiet time: writers wait, or spool
 * when they wait longer than their busy timeout. Returns the longest step, ms.
 */
export async function compactTextIndex(
  s: SqliteLogStore,
  pauseMs = DEFAULT_PRUNE_PAUSE_MS,
  pagesPerStep = 128,
  maxSteps = 20_000,
): Promise<number> {
  const { longest, finished } = await ftsMergeSteps(s, -pagesPerStep, pauseMs, maxSteps, 'stop');
  if (finished) s.stmt("UPDATE meta SET value = 0 WHERE key = 'fts_deleted'").run();
  return longest;
}

/**
 * Runs FTS5 'merge' steps with `budget` pages (positive: merge same-level segments; negative:
 * incremental optimize) in short write transactions with pauses between, until a step finds
 * nothing to do (`finished`) or `maxSteps` ran. A failed step throws (`onError` 'throw') or ends
 * the run early (`stop`). Returns the longest step, ms.
 */
async function ftsMergeSteps(
  s: SqliteLogStore,
  budget: number,
  pauseMs: number,
  maxSteps: number,
  onError: 'throw' | 'stop',
): Promise<{ longest: number; finished: boolean }> {
  const changes = s.stmt('SELECT total_changes()').pluck();
  const merge = s.stmt("INSERT INTO logs_fts (logs_fts, rank) VALUES ('merge', ?)");
  let longest = 0;
  for (let step = 0; step < maxSteps; step++) {
    const before = changes.get() as number;
    const t0 = performance.now();
    try {
      s.db.transaction(() => merge.run(budget)).immediate();
    } catch (err) {
      if (onError === 'stop') return { longest, finished: false };
      throw storeError(s.file, 'maintain the text index of', err);
    }
    longest = Math.max(longest, performance.now() - t0);
    // A step that found nothing to merge changes nothing but the statement itself.
    if ((changes.get() as number) - before <= 1) return { longest, finished: true };
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return { longest, finished: false };
}
