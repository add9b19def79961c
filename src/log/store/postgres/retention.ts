/**
 * Retention in the PostgreSQL store, designed so writers never wait on it:
 *
 * 1. Week partitions entirely older than every category's cutoff are detached
 *    (DETACH PARTITION … CONCURRENTLY: no lock that blocks inserts or reads), their chain runs
 *    recorded, and dropped: removing a week costs the same whatever its size.
 * 2. What remains older than a cutoff (the days of the week straddling the common cutoff, and the categories
 *    kept for less time than others inside old partitions, e.g. emails older than 90 days beside
 *    payments kept a year) is deleted in bounded batches (DELETE … RETURNING), with pauses between.
 *
 * Every removed run of a chain is recorded in `chain_pruned` in the same transaction that
 * removes it, so verification still passes. Only one instance prunes at a time (a session-level
 * advisory lock); a run cut short (crash mid-detach) is finished by the next one.
 */
import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from '../../../errors.js';
import { LOCK_CLASS, LOCK_PRUNE, PG_SCHEMA } from './schema.js';
import type { PostgresLogStore } from './store.js';
import type { PruneOptions, PruneReport } from '../types.js';
import { startPruneReport } from '../prune-report.js';

const S = PG_SCHEMA;
const DEFAULT_BATCH = 1000;
const DEFAULT_PAUSE_MS = 25;

interface Removed {
  id: number;
  writer: number;
  category: string;
  seq: number;
  hash: Buffer;
}

export async function pruneStore(s: PostgresLogStore, options: PruneOptions): Promise<PruneReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  const pauseMs = options.pauseMs ?? DEFAULT_PAUSE_MS;
  const categories = await s.categories();
  const { report, cutoffOf, count } = startPruneReport(categories, options);
  if (categories.length === 0) return report;
  if (options.dryRun) {
    await s.use('count in', async (c) => {
      for (const cat of categories) {
        const r = await c.query<{ n: number }>(
          `SELECT count(*) AS n FROM ${S}.logs WHERE category = $1 AND ts < $2`,
          [cat, cutoffOf(cat)],
        );
        count(cat, r.rows[0]!.n);
      }
    });
    return report;
  }
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await work();
    report.longestBatchMs = Math.max(report.longestBatchMs, performance.now() - t0);
    return out;
  };
  await s.use('prune', async (c) => {
    const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
      LOCK_CLASS,
      LOCK_PRUNE,
    ]);
    if (!lock.rows[0]!.ok) {
      throw new StorageError('E_LOG_PRUNE_BUSY', `another process is pruning the log store ${s.where}`, {
        hint: 'wait for it to finish (retention runs once a day from serve)',
        transient: true,
      });
    }
    try {
      const common = Math.min(...categories.map(cutoffOf));
      // Phase 1: whole weeks every category has let go of (and any a crashed run left behind).
      const days = await c.query<{ day: number; name: string; state: string }>(
        `SELECT day, name, state FROM ${S}.partitions WHERE to_ts <= $1 OR state <> 'attached' ORDER BY day`,
        [common],
      );
      for (const p of days.rows) {
        const counts = await timed(() => dropPartition(c, p, s.now()));
        for (const [cat, n] of counts) count(cat, n);
        report.batches++;
      }
      // Phase 2: rows older than a cutoff inside partitions that stay, in bounded batches.
      const passes: { where: string; params: unknown[] }[] = [{ where: 'ts < $1', params: [common] }];
      for (const cat of categories) {
        if (cutoffOf(cat) > common)
          passes.push({ where: 'category = $1 AND ts < $2', params: [cat, cutoffOf(cat)] });
      }
      for (const pass of passes) {
        for (;;) {
          const t0 = performance.now();
          const counts = await timed(() => deleteBatch(c, pass.where, pass.params, batchSize, s.now()));
          const took = performance.now() - t0;
          let n = 0;
          for (const [cat, k] of counts) {
            count(cat, k);
            n += k;
          }
          if (n === 0) break;
          report.batches++;
          // Rest at least as long as the batch took: the deletes then use at most half of one
          // core and of the disk's WAL bandwidth, which writers' commits share (their waits
          // come from that contention, not from locks: deletes and inserts do not conflict).
          if (pauseMs > 0) await sleep(Math.max(pauseMs, took));
          if (n < batchSize) break;
        }
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, LOCK_PRUNE]);
    }
  });
  return report;
}

/**
 * Detaches a week partition without blocking writers, then in one transaction records its chain
 * runs, forgets its webhook event ids and drops it. Returns entries removed per category.
 */
async function dropPartition(
  c: pg.PoolClient,
  p: { day: number; name: string; state: string },
  now: number,
): Promise<Map<string, number>> {
  const table = `${S}.${p.name}`;
  if (p.state !== 'detached') {
    await c.query(`UPDATE ${S}.partitions SET state = 'detaching' WHERE day = $1`, [p.day]);
    const attached = await c.query<{ pending: boolean }>(
      `SELECT i.inhdetachpending AS pending FROM pg_inherits i
       WHERE i.inhrelid = to_regclass($1) AND i.inhparent = to_regclass($2)`,
      [table, `${S}.logs`],
    );
    if (attached.rows[0]?.pending) await c.query(`ALTER TABLE ${S}.logs DETACH PARTITION ${table} FINALIZE`);
    else if (attached.rows.length)
      await c.query(`ALTER TABLE ${S}.logs DETACH PARTITION ${table} CONCURRENTLY`);
    await c.query(`UPDATE ${S}.partitions SET state = 'detached' WHERE day = $1`, [p.day]);
  }
  const counts = new Map<string, number>();
  await c.query('BEGIN');
  try {
    const exists = await c.query('SELECT to_regclass($1) AS t', [table]);
    if (exists.rows[0].t) {
      // Runs of consecutive seq per category (gaps and islands): usually one per category.
      const runs = await c.query<{
        writer: number;
        category: string;
        from_seq: number;
        to_seq: number;
        n: number;
        last_hash: Buffer;
      }>(
        `SELECT writer, category, min(seq) AS from_seq, max(seq) AS to_seq, count(*) AS n,
                (array_agg(hash ORDER BY seq DESC))[1] AS last_hash
         FROM (SELECT writer, category, seq, hash,
                      seq - row_number() OVER (PARTITION BY writer, category ORDER BY seq) AS grp
               FROM ${table}) x
         GROUP BY writer, category, grp ORDER BY writer, category, min(seq)`,
      );
      for (const r of runs.rows) {
        await recordRun(c, r.writer, r.category, r.from_seq, r.to_seq, r.last_hash, r.n, now);
        counts.set(r.category, (counts.get(r.category) ?? 0) + r.n);
      }
      await c.query(
        `DELETE FROM ${S}.webhook_events w USING ${table} p WHERE p.category = 'webhook' AND w.first_id = p.id`,
      );
      await c.query(`DROP TABLE ${table}`);
    }
    await c.query(`DELETE FROM ${S}.partitions WHERE day = $1`, [p.day]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return counts;
}

/** Deletes up to `limit` of the oldest rows matching `where` and records their chain runs. */
async function deleteBatch(
  c: pg.PoolClient,
  where: string,
  params: unknown[],
  limit: number,
  now: number,
): Promise<Map<string, number>> {
  await c.query('BEGIN');
  try {
    const r = await c.query<Removed>(
      `DELETE FROM ${S}.logs WHERE (ts, id) IN (
         SELECT ts, id FROM ${S}.logs WHERE ${where} ORDER BY ts LIMIT $${params.length + 1})
       RETURNING id, writer, category, seq, hash`,
      [...params, limit],
    );
    const byChain = new Map<string, Removed[]>();
    for (const row of r.rows) {
      const key = `${row.writer}\u0000${row.category}`;
      let list = byChain.get(key);
      if (!list) byChain.set(key, (list = []));
      list.push(row);
    }
    const counts = new Map<string, number>();
    for (const list of byChain.values()) {
      list.sort((a, b) => a.seq - b.seq);
      const { writer, category } = list[0]!;
      for (let i = 0; i < list.length;) {
        let j = i;
        while (j + 1 < list.length && list[j + 1]!.seq === list[j]!.seq + 1) j++;
        await recordRun(c, writer, category, list[i]!.seq, list[j]!.seq, list[j]!.hash, j - i + 1, now);
        i = j + 1;
      }
      counts.set(category, (counts.get(category) ?? 0) + list.length);
    }
    const hooks = r.rows.filter((x) => x.category === 'webhook');
    if (hooks.length) {
      await c.query(`DELETE FROM ${S}.webhook_events WHERE first_id = ANY($1::bigint[])`, [
        hooks.map((h) => h.id),
      ]);
    }
    await c.query('COMMIT');
    return counts;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** Records a removed run of seq (merged with runs it touches) so verification skips it legitimately. */
async function recordRun(
  c: pg.PoolClient,
  writer: number,
  category: string,
  from: number,
  to: number,
  last: Buffer,
  count: number,
  now: number,
): Promise<void> {
  const before = await c.query<{ from_seq: number; count: number }>(
    `DELETE FROM ${S}.chain_pruned WHERE writer = $3 AND category = $1 AND to_seq = $2 RETURNING from_seq, count`,
    [category, from - 1, writer],
  );
  if (before.rows[0]) {
    from = before.rows[0].from_seq;
    count += before.rows[0].count;
  }
  const after = await c.query<{ to_seq: number; last_hash: Buffer; count: number }>(
    `DELETE FROM ${S}.chain_pruned WHERE writer = $3 AND category = $1 AND from_seq = $2 RETURNING to_seq, last_hash, count`,
    [category, to + 1, writer],
  );
  if (after.rows[0]) {
    to = after.rows[0].to_seq;
    last = after.rows[0].last_hash;
    count += after.rows[0].count;
  }
  await c.query(
    `INSERT INTO ${S}.chain_pruned (writer, category, from_seq, to_seq, last_hash, count, pruned_at) VALUES ($7, $1, $2, $3, $4, $5, $6)`,
    [category, from, to, last, count, now, writer],
  );
}
