/**
 * Entries and chain bookkeeping exactly as stored (ids, seqs, hashes), for `logs copy`: what is
 * read here from one store and written into another verifies there as it did here.
 */
import { LEVELS, LEVEL_RANK } from '../../types.js';
import { storeError } from './common.js';
import { COLUMNS, type StoredRow } from '../stored-row.js';
import type { SqliteLogStore } from './store.js';
import type { ChainState, RawEntry } from '../types.js';

/** Up to `limit` entries after `afterId`, in id order. */
export function readRaw(s: SqliteLogStore, afterId: number, limit: number): RawEntry[] {
  const rows = s
    .stmt(`SELECT ${COLUMNS}, seq, hash FROM logs WHERE id > ? ORDER BY id LIMIT ?`)
    .all(afterId, limit) as (StoredRow & { seq: number; hash: Buffer })[];
  return rows.map((r) => ({
    id: r.id,
    ts: r.ts,
    level: LEVELS[r.level] ?? 'critical',
    category: r.category,
    message: r.message,
    details: r.details,
    orderId: r.order_id,
    errorStack: r.error_stack,
    seq: r.seq,
    hash: r.hash.toString('hex'),
  }));
}

/** Heads, pruned runs and webhook event ids. */
export function chainState(s: SqliteLogStore): ChainState {
  const heads = (
    s.stmt('SELECT category, seq, hash FROM chain_heads ORDER BY category').all() as {
      category: string;
      seq: number;
      hash: Buffer;
    }[]
  ).map((h) => ({ category: h.category, seq: h.seq, hash: h.hash.toString('hex') }));
  const pruned = (
    s.stmt('SELECT category, from_seq, to_seq, last_hash, count, pruned_at FROM chain_pruned').all() as {
      category: string;
      from_seq: number;
      to_seq: number;
      last_hash: Buffer;
      count: number;
      pruned_at: number;
    }[]
  ).map((p) => ({
    category: p.category,
    fromSeq: p.from_seq,
    toSeq: p.to_seq,
    lastHash: p.last_hash.toString('hex'),
    count: p.count,
    prunedAt: p.pruned_at,
  }));
  const webhooks = (
    s.stmt('SELECT provider, event_id, first_id FROM webhook_events').all() as {
      provider: string;
      event_id: string;
      first_id: number;
    }[]
  ).map((w) => ({ provider: w.provider, eventId: w.event_id, firstId: w.first_id }));
  return { heads, pruned, webhooks };
}

/** Inserts entries as given and (optionally) replaces the chain bookkeeping, in one transaction. */
export function writeRaw(s: SqliteLogStore, rows: RawEntry[], state?: ChainState): void {
  const insert = s.stmt(
    'INSERT INTO logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const run = () => {
    let maxId = 0;
    for (const r of rows) {
      insert.run(
        r.id,
        r.ts,
        LEVEL_RANK[r.level],
        r.category,
        r.message,
        r.details,
        r.orderId,
        r.errorStack,
        r.seq,
        Buffer.from(r.hash, 'hex'),
      );
      if (r.id > maxId) maxId = r.id;
    }
    s.stmt("UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'next_id'").run(maxId + 1);
    if (state) {
      s.db.exec('DELETE FROM chain_heads; DELETE FROM chain_pruned; DELETE FROM webhook_events;');
      const head = s.stmt('INSERT INTO chain_heads (category, seq, hash) VALUES (?, ?, ?)');
      for (const h of state.heads) head.run(h.category, h.seq, Buffer.from(h.hash, 'hex'));
      const run = s.stmt(
        'INSERT INTO chain_pruned (category, from_seq, to_seq, last_hash, count, pruned_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const p of state.pruned)
        run.run(p.category, p.fromSeq, p.toSeq, Buffer.from(p.lastHash, 'hex'), p.count, p.prunedAt);
      const wh = s.stmt('INSERT INTO webhook_events (provider, event_id, first_id) VALUES (?, ?, ?)');
      for (const w of state.webhooks) wh.run(w.provider, w.eventId, w.firstId);
    }
  };
  try {
    s.db.transaction(run).immediate();
  } catch (err) {
    throw storeError(s.file, 'copy into', err);
  }
}
