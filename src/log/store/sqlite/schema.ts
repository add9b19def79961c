/**
 * Schema of the SQLite log store (its own file, never the shop's database).
 *
 * - `logs`: one row per entry. `ts` is ms since the epoch (the ISO timestamp is derived on read),
 *   `level` is the rank 0..3 so "minimum level" is a range, `details` is the JSON text exactly as
 *   hashed, `seq`/`hash` are the entry's place in its category's hash chain.
 * - Indexes: one per filter, with `ts` right after the filtered column so "newest first" walks
 *   the index: (ts); (category, ts, level), whose trailing level lets a level filter skip row
 *   lookups; (level, ts) for levels above info only (most entries are info, found through the
 *   other indexes); (order_id, ts) for entries that have an order.
 * - The full-text index and the per-hour entry counts are derived data in a file of their own
 *   beside the store (`<store>.search`, see sqlite/search-file.ts), filled after the entries
 *   commit; searches cover the not-yet-indexed tail with a substring scan. Stores of schema 1
 *   kept a `logs_fts` table here; it is still read (for entries the new index has not reached
 *   yet) until the new index has caught up, and then dropped by the next prune.
 * - `text_pending`: entries retention deleted whose removal from the search file is not done yet
 *   (written in the delete's own transaction; see sqlite/text-index.ts).
 * - `chain_heads`: the last seq/hash of each category's chain (a truncated tail is detectable).
 * - `chain_pruned`: runs of seq removed by retention, with the hash of each run's last entry, so
 *   the chain still verifies from where it legitimately starts now.
 * - `webhook_events`: (provider, event id) seen, to mark repeated deliveries as duplicates.
 * - `meta`: next id, spool replay offsets, `store_uid` (ties the search file to this store),
 *   `text_batch` (the last retention batch recorded in `text_pending`); in schema-1 stores also
 *   the old index's watermark `fts_upto`.
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { StorageError } from '../../../errors.js';

export const SCHEMA_VERSION = 2;

/** The tables every store has (schema 1 without its full-text table). */
const DDL_BASE = `
CREATE TABLE IF NOT EXISTS logs (
  id          INTEGER PRIMARY KEY,
  ts          INTEGER NOT NULL,
  level       INTEGER NOT NULL,
  category    TEXT    NOT NULL,
  message     TEXT    NOT NULL,
  details     TEXT    NOT NULL,
  order_id    TEXT,
  error_stack TEXT,
  seq         INTEGER NOT NULL,
  hash        BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_ts          ON logs (ts);
CREATE INDEX IF NOT EXISTS logs_category_ts ON logs (category, ts, level);
CREATE INDEX IF NOT EXISTS logs_level_ts    ON logs (level, ts) WHERE level > 0;
CREATE INDEX IF NOT EXISTS logs_order_ts    ON logs (order_id, ts) WHERE order_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS chain_heads (
  category TEXT PRIMARY KEY,
  seq      INTEGER NOT NULL,
  hash     BLOB    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chain_pruned (
  category  TEXT    NOT NULL,
  from_seq  INTEGER NOT NULL,
  to_seq    INTEGER NOT NULL,
  last_hash BLOB    NOT NULL,
  count     INTEGER NOT NULL,
  pruned_at INTEGER NOT NULL,
  PRIMARY KEY (category, to_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chain_pruned_from ON chain_pruned (category, from_seq);
CREATE TABLE IF NOT EXISTS webhook_events (
  provider TEXT    NOT NULL,
  event_id TEXT    NOT NULL,
  first_id INTEGER NOT NULL,
  PRIMARY KEY (provider, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_events_first ON webhook_events (first_id);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value ANY
) WITHOUT ROWID;
`;

/**
 * Schema 2: the full-text index moved to the search file; retention records what the search file
 * must forget in `text_pending` (one row per deleted entry, with the text that was indexed).
 */
const DDL_V2 = `
CREATE TABLE IF NOT EXISTS text_pending (
  batch    INTEGER NOT NULL,
  id       INTEGER NOT NULL,
  ts       INTEGER NOT NULL,
  category TEXT    NOT NULL,
  level    INTEGER NOT NULL,
  message  TEXT    NOT NULL,
  body     TEXT    NOT NULL,
  PRIMARY KEY (batch, id)
) WITHOUT ROWID;
`;

/** Creates or upgrades the schema; refuses a store written by a newer safetynet. */
export function migrate(db: Database.Database, file: string): void {
  const version = (db.pragma('user_version', { simple: true }) as number) ?? 0;
  if (version > SCHEMA_VERSION) {
    throw new StorageError(
      'E_LOG_STORE_VERSION',
      `log store ${file} has schema version ${version}, newer than this safetynet understands (${SCHEMA_VERSION})`,
      {
        hint: 'upgrade safetynet, or point logs.store.path at another file',
      },
    );
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Read again inside the write lock: another process may have migrated meanwhile.
    const now = (db.pragma('user_version', { simple: true }) as number) ?? 0;
    if (now >= SCHEMA_VERSION) return;
    if (now < 1) {
      db.exec(DDL_BASE);
      db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('next_id', 1)`).run();
    }
    // 1 -> 2: the old `logs_fts` table and its `fts_upto` stay until the search file has caught up.
    db.exec(DDL_V2);
    db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('store_uid', ?), ('text_batch', 0)`).run(
      randomBytes(16).toString('hex'),
    );
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** True when the store still has the full-text table of schema 1 (see dropLegacyTextIndex). */
export function hasLegacyTextIndex(db: Database.Database, schema = 'main'): boolean {
  return (
    db.prepare(`SELECT 1 FROM ${schema}.sqlite_master WHERE type = 'table' AND name = 'logs_fts'`).get() !==
    undefined
  );
}
