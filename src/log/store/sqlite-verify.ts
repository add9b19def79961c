/**
 * Verifying the SQLite store's hash chains: one read transaction, every row in id order, gaps
 * accepted only where retention recorded them, tails checked against the recorded heads.
 */
import { storedTimestamp } from '../entry-check.js';
import { GENESIS_HASH, linkHash } from '../chain.js';
import { LEVELS } from '../types.js';
import { COLUMNS, type Head, type StoredRow, storeError } from './sqlite-common.js';
import type { SqliteLogStore } from './sqlite-store.js';
import type { ChainBreak, VerifyReport } from './types.js';

export function verifySync(s: SqliteLogStore): VerifyReport {
  const db = s.db;
  // One read transaction: the heads, the pruned runs and the rows are one consistent snapshot.
  db.exec('BEGIN');
  try {
    const heads = new Map<string, Head>();
    for (const h of db.prepare('SELECT category, seq, hash FROM chain_heads').all() as {
      category: string;
      seq: number;
      hash: Buffer;
    }[]) {
      heads.set(h.category, { seq: h.seq, hash: h.hash.toString('hex') });
    }
    const runs = new Map<string, Map<number, { to: number; last: string }>>();
    for (const r of db.prepare('SELECT category, from_seq, to_seq, last_hash FROM chain_pruned').all() as {
      category: string;
      from_seq: number;
      to_seq: number;
      last_hash: Buffer;
    }[]) {
      let m = runs.get(r.category);
      if (!m) runs.set(r.category, (m = new Map()));
      m.set(r.from_seq, { to: r.to_seq, last: r.last_hash.toString('hex') });
    }
    /** The hash before `seq` when seq follows a pruned run starting at `from`; undefined when not pruned. */
    const prunedBefore = (cat: string, from: number, seq: number): string | undefined => {
      // Runs are merged when they touch, but accept adjacent runs too.
      let at = from;
      let last: string | undefined;
      for (let guard = 0; guard < 1_000_000 && at < seq; guard++) {
        const r = runs.get(cat)?.get(at);
        if (!r) return undefined;
        last = r.last;
        at = r.to + 1;
      }
      return at === seq ? last : undefined;
    };
    const state = new Map<string, { seq: number; hash: string; id: number }>();
    let checked = 0;
    let broken: ChainBreak | undefined;
    const rows = db
      .prepare(`SELECT ${COLUMNS}, seq, hash FROM logs ORDER BY id`)
      .iterate() as IterableIterator<StoredRow & { seq: number; hash: Buffer }>;
    for (const r of rows) {
      checked++;
      const level = LEVELS[r.level];
      const st = state.get(r.category) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
      const at = storedTimestamp(r.ts, []);
      const fail = (reason: string): ChainBreak => ({
        id: String(r.id),
        category: r.category,
        timestamp: at,
        reason,
      });
      if (!level) {
        broken = fail(`entry ${r.id} has an invalid level ${r.level}`);
        break;
      }
      if (r.seq <= st.seq) {
        broken = fail(
          `entry ${r.id} is out of order in the ${r.category} chain (position ${r.seq} after ${st.seq}): rows were reordered or duplicated`,
        );
        break;
      }
      let prev = st.hash;
      if (r.seq !== st.seq + 1) {
        const p = prunedBefore(r.category, st.seq + 1, r.seq);
        if (p === undefined) {
          broken = fail(
            `entries ${st.seq + 1}..${r.seq - 1} of the ${r.category} chain before entry ${r.id} are missing and were not removed by retention`,
          );
          break;
        }
        prev = p;
      }
      const h = linkHash(prev, {
        id: r.id,
        seq: r.seq,
        ts: r.ts,
        level,
        category: r.category,
        message: r.message,
        details: r.details,
        orderId: r.order_id,
        errorStack: r.error_stack,
      });
      if (h !== r.hash.toString('hex')) {
        broken = fail(
          `entry ${r.id} (${r.category} #${r.seq}) does not match its hash: it was edited, or moved from another position`,
        );
        break;
      }
      state.set(r.category, { seq: r.seq, hash: h, id: r.id });
    }
    if (!broken) {
      // Tails: the newest entry of each chain must be the recorded head (or pruned up to it).
      for (const [cat, st] of state) {
        if (!heads.has(cat)) {
          broken = {
            id: String(st.id),
            category: cat,
            timestamp: null,
            reason: `the chain head of ${cat} is missing`,
          };
          break;
        }
      }
    }
    if (!broken) {
      for (const [cat, head] of heads) {
        const st = state.get(cat) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
        const ok =
          (st.seq === head.seq && st.hash === head.hash) ||
          (st.seq < head.seq && prunedBefore(cat, st.seq + 1, head.seq + 1) === head.hash);
        if (!ok) {
          broken = {
            id: null,
            category: cat,
            timestamp: null,
            reason:
              st.seq < head.seq
                ? `the newest ${head.seq - st.seq} entries of the ${cat} chain are missing` +
                  (st.id ? ` (last present: entry ${st.id})` : '')
                : `the ${cat} chain ends at position ${st.seq}, but its head records ${head.seq}`,
          };
          break;
        }
      }
    }
    return { ok: !broken, checked, chains: heads.size, ...(broken ? { firstBroken: broken } : {}) };
  } catch (err) {
    throw storeError(s.file, 'verify', err);
  } finally {
    db.exec('COMMIT');
  }
}
