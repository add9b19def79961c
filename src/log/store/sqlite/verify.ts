/**
 * Verifying the SQLite store's hash chains: one read transaction (a consistent snapshot of the
 * heads, the pruned runs and every row), rows fed in id order through the ChainChecker.
 */
import { LEVELS } from '../../types.js';
import { ChainChecker } from '../chain-check.js';
import { storeError } from './common.js';
import { COLUMNS, type StoredRow } from '../stored-row.js';
import { chainState } from './raw.js';
import type { SqliteLogStore } from './store.js';
import type { VerifyReport } from '../types.js';

export function verifySync(s: SqliteLogStore): VerifyReport {
  const db = s.db;
  db.exec('BEGIN');
  try {
    const checker = new ChainChecker(chainState(s));
    const rows = db
      .prepare(`SELECT ${COLUMNS}, seq, hash FROM logs ORDER BY id`)
      .iterate() as IterableIterator<StoredRow & { seq: number; hash: Buffer }>;
    for (const r of rows) {
      const ok = checker.add({
        id: r.id,
        ts: r.ts,
        level: LEVELS[r.level],
        rawLevel: r.level,
        category: r.category,
        message: r.message,
        details: r.details,
        orderId: r.order_id,
        errorStack: r.error_stack,
        seq: r.seq,
        hash: r.hash.toString('hex'),
      });
      if (!ok) break;
    }
    return checker.finish();
  } catch (err) {
    throw storeError(s.file, 'verify', err);
  } finally {
    db.exec('COMMIT');
  }
}
