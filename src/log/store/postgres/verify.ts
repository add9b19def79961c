/**
 * Verifying the PostgreSQL store's chains: one REPEATABLE READ, READ ONLY transaction (heads,
 * pruned runs, the writer registry and every row from one snapshot, while other instances keep
 * writing), rows read in id order in keyset pages and fed through the ChainChecker. A writer's
 * appends run one after the other, so within each (writer, category) chain id order is chain order
 * and a snapshot never shows a later batch of a writer without its earlier ones.
 */
import { LEVELS } from '../../types.js';
import { ChainChecker } from '../chain-check.js';
import { PG_SCHEMA } from './schema.js';
import { readChainState, type PostgresLogStore } from './store.js';
import { COLUMNS, type StoredRow } from '../stored-row.js';
import type { VerifyReport } from '../types.js';

const PAGE = 5000;

export function verifyStore(s: PostgresLogStore): Promise<VerifyReport> {
  return s.tx(
    'verify',
    async (c) => {
      const checker = new ChainChecker(await readChainState(c));
      // Keyset on (id, seq), not id alone: a duplicated id at a page boundary must not be skipped.
      let after = { id: -1, seq: -1 };
      for (;;) {
        const r = await c.query<StoredRow & { writer: number; seq: number; hash: Buffer }>(
          `SELECT writer, ${COLUMNS}, seq, hash FROM ${PG_SCHEMA}.logs
           WHERE id >= $1 AND (id, seq) > ($1::bigint, $2::bigint) ORDER BY id, seq LIMIT $3`,
          [after.id, after.seq, PAGE],
        );
        for (const row of r.rows) {
          const ok = checker.add({
            writer: row.writer,
            id: row.id,
            ts: row.ts,
            level: LEVELS[row.level],
            rawLevel: row.level,
            category: row.category,
            message: row.message,
            details: row.details,
            orderId: row.order_id,
            errorStack: row.error_stack,
            seq: row.seq,
            hash: row.hash.toString('hex'),
          });
          if (!ok) return checker.finish();
        }
        if (r.rows.length < PAGE) break;
        const last = r.rows[r.rows.length - 1]!;
        after = { id: last.id, seq: last.seq };
      }
      return checker.finish();
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  );
}
