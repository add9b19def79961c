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
 * - `logs_fts`: contentless FTS5 index over the message and raw webhook bodies; it is filled just
 *   after the entries commit (see `fts_upto` in `meta`), so a burst of writes is not slowed down by
 *   tokenising; searches cover the not-yet-indexed tail with a substring scan.
 * - `chain_heads`: the last seq/hash of each category's chain (a truncated tail is detectable).
 * - `chain_pruned`: runs of seq removed by retention, with the hash of each run's last entry, so
 *   the chain still verifies from where it legitimately starts now.
 * - `webhook_events`: (provider, event id) seen, to mark repeated deliveries as duplicates.
 * - `meta`: schema version, next id, FTS watermark, spool replay offsets.
 */
import type Database from 'better-sqlite3';
import { StorageError } from '../../errors.js';

export const SCHEMA_VERSION = 1;

const DDL_V1 = `
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
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5 (
  message, body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
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
    db.exec(DDL_V1);
    db.prepare(
      `INSERT OR IGNORE INTO meta (key, value) VALUES ('next_id', 1), ('fts_upto', 0), ('fts_deleted', 0)`,
    ).run();
    // FTS5 rewrites a segment in one go once 10% of its rows are deleted ("deletemerge"); after a
    // retention prune that took seconds inside one small delete transaction, stalling writers.
    // Deleted rows are dropped by compactTextIndex instead, in small steps.
    db.prepare("INSERT INTO logs_fts (logs_fts, rank) VALUES ('deletemerge', 0)").run();
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
