/**
 * Schema of the PostgreSQL log store, in its own schema `safetynet_log` of the configured database.
 *
 * - `logs`: one row per entry, partitioned by week on `ts` (ms since the epoch), so retention drops
 *   whole weeks (DETACH … CONCURRENTLY, then DROP) instead of deleting millions of rows. Columns as
 *   in the SQLite store, plus `tsv`: the tsvector of the message (and raw webhook body) for text
 *   search through a GIN index. No unique index on `id` (a partitioned table can only enforce
 *   uniqueness including the partition key): ids are reserved from `id_counter`, and
 *   verification reports a duplicated id as a reordered entry.
 * - Indexes, each ending in (ts, id) so "newest first" with a keyset cursor walks them: (ts, id);
 *   (category, ts, id); (level, ts, id) for levels above info; (order_id, ts, id); (id) for get
 *   and verify; GIN (tsv).
 * - `partitions`: the week partitions and their state (attached / detaching / detached), so an
 *   interrupted retention run is finished by the next one.
 * - `chain_heads`, `chain_pruned` as in the SQLite store but per (writer, category) (schema 2);
 *   `writers`: the writer registry (a hash chain of registrations, with each writer's lease);
 *   `id_counter`: the next entry id (reserved per batch); `webhook_events`; `spool_offsets`
 *   (spool replay positions); `migrations` (applied versions).
 *
 * Migrations run in one transaction under a transaction-scoped advisory lock, so two instances
 * starting at once apply each version exactly once (the second waits, then finds it applied).
 */
import type pg from 'pg';
import { StorageError } from '../../../errors.js';

export const PG_SCHEMA = 'safetynet_log';
/** Advisory lock keys (pg_advisory_xact_lock(int, int)): class, then the purpose. */
export const LOCK_CLASS = 0x534e4c47; // "SNLG"
export const LOCK_MIGRATE = 1;
/** Schema 1 serialised every append under this key; no longer taken (per-writer chains). */
export const LOCK_APPEND = 2;
export const LOCK_PARTITION = 3;
export const LOCK_PRUNE = 4;
export const LOCK_WRITERS = 5;

export const DAY_MS = 86_400_000;
/**
 * One partition per week (Monday 00:00 UTC is not needed: weeks count from the epoch). Days would
 * make retention a pure partition drop, but every search without a time range then probes 400
 * partitions' indexes (measured: an order-id search 40 ms on 200k entries); weeks cut that to ~58
 * while the part of the oldest week that has expired is removed by bounded batch deletes.
 */
export const PARTITION_MS = 7 * DAY_MS;

const S = PG_SCHEMA;

const MIGRATIONS: string[] = [
  // v1
  `
CREATE TABLE ${S}.logs (
  id          bigint   NOT NULL,
  ts          bigint   NOT NULL,
  level       smallint NOT NULL,
  category    text     NOT NULL,
  message     text     NOT NULL,
  details     text     NOT NULL,
  order_id    text,
  error_stack text,
  seq         bigint   NOT NULL,
  hash        bytea    NOT NULL,
  tsv         tsvector NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX logs_ts_id       ON ${S}.logs (ts, id);
CREATE INDEX logs_category_ts ON ${S}.logs (category, ts, id);
CREATE INDEX logs_level_ts    ON ${S}.logs (level, ts, id) WHERE level > 0;
CREATE INDEX logs_order_ts    ON ${S}.logs (order_id, ts, id) WHERE order_id IS NOT NULL;
CREATE INDEX logs_id          ON ${S}.logs (id);
CREATE INDEX logs_tsv         ON ${S}.logs USING gin (tsv);
CREATE SEQUENCE ${S}.entry_id AS bigint;
CREATE TABLE ${S}.partitions (
  day     integer PRIMARY KEY,
  name    text    NOT NULL,
  from_ts bigint  NOT NULL,
  to_ts   bigint  NOT NULL,
  state   text    NOT NULL DEFAULT 'attached'
);
CREATE TABLE ${S}.chain_heads (
  category text PRIMARY KEY,
  seq      bigint NOT NULL,
  hash     bytea  NOT NULL
);
CREATE TABLE ${S}.chain_pruned (
  category  text   NOT NULL,
  from_seq  bigint NOT NULL,
  to_seq    bigint NOT NULL,
  last_hash bytea  NOT NULL,
  count     bigint NOT NULL,
  pruned_at bigint NOT NULL,
  PRIMARY KEY (category, to_seq)
);
CREATE INDEX chain_pruned_from ON ${S}.chain_pruned (category, from_seq);
CREATE TABLE ${S}.webhook_events (
  provider text   NOT NULL,
  event_id text   NOT NULL,
  first_id bigint NOT NULL,
  PRIMARY KEY (provider, event_id)
);
CREATE INDEX webhook_events_first ON ${S}.webhook_events (first_id);
CREATE TABLE ${S}.spool_offsets (
  file   text   PRIMARY KEY,
  offset_bytes bigint NOT NULL
);
`,
  // v2: one chain per (writer, category) instead of one per category under a global append lock.
  // Rows written before keep writer 0 (their v1 links still verify). Ids come from a counter row
  // reserved per batch in a short transaction of its own (so appends never wait for each other).
  `
ALTER TABLE ${S}.logs ADD COLUMN writer integer NOT NULL DEFAULT 0;
ALTER TABLE ${S}.chain_heads ADD COLUMN writer integer NOT NULL DEFAULT 0;
ALTER TABLE ${S}.chain_heads DROP CONSTRAINT chain_heads_pkey;
ALTER TABLE ${S}.chain_heads ADD PRIMARY KEY (writer, category);
ALTER TABLE ${S}.chain_pruned ADD COLUMN writer integer NOT NULL DEFAULT 0;
ALTER TABLE ${S}.chain_pruned DROP CONSTRAINT chain_pruned_pkey;
ALTER TABLE ${S}.chain_pruned ADD PRIMARY KEY (writer, category, to_seq);
DROP INDEX ${S}.chain_pruned_from;
CREATE INDEX chain_pruned_from ON ${S}.chain_pruned (writer, category, from_seq);
CREATE TABLE ${S}.writers (
  id            integer PRIMARY KEY,
  registered_at bigint  NOT NULL,
  prev_hash     bytea   NOT NULL,
  hash          bytea   NOT NULL,
  token         text    NOT NULL,
  lease_until   timestamptz NOT NULL,
  host          text    NOT NULL,
  pid           integer NOT NULL
);
CREATE TABLE ${S}.id_counter (
  one     boolean PRIMARY KEY DEFAULT true CHECK (one),
  next_id bigint  NOT NULL
);
INSERT INTO ${S}.id_counter (next_id)
  SELECT greatest(coalesce((SELECT max(id) FROM ${S}.logs), 0),
                  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${S}.entry_id)) + 1;
DROP SEQUENCE ${S}.entry_id;
`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Creates or upgrades the schema (to `target`, default the newest version; tests build older
 * stores with it); refuses a database migrated by a newer safetynet.
 */
export async function migrate(client: pg.ClientBase, where: string, target = SCHEMA_VERSION): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_MIGRATE]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${S}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${S}.migrations`);
    const version = r.rows[0]?.v ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new StorageError(
        'E_LOG_STORE_VERSION',
        `log store ${where} has schema version ${version}, newer than this safetynet understands (${SCHEMA_VERSION})`,
        { hint: 'upgrade safetynet, or point logs.store.connectionString at another database' },
      );
    }
    for (let v = version + 1; v <= target; v++) {
      await client.query(MIGRATIONS[v - 1]!);
      await client.query(`INSERT INTO ${S}.migrations (version) VALUES ($1)`, [v]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** The partition number (weeks since the epoch) of a time. */
export function dayOf(ts: number): number {
  return Math.floor(ts / PARTITION_MS);
}

/** The partition name of a week number (negative ones, before 1970, get an "m"). */
export function partitionName(week: number): string {
  return `logs_w${week < 0 ? 'm' + -week : week}`;
}

/**
 * Makes sure the day partitions exist (creating missing ones as standalone tables with the range
 * as a CHECK constraint, then ATTACH: that takes only a SHARE UPDATE EXCLUSIVE lock on `logs`, so
 * writers and readers go on, where CREATE … PARTITION OF would lock them out).
 */
export async function ensurePartitions(client: pg.ClientBase, days: number[]): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_PARTITION]);
    const have = await client.query<{ day: number }>(
      `SELECT day FROM ${S}.partitions WHERE day = ANY($1::int[])`,
      [days],
    );
    const known = new Set(have.rows.map((r) => r.day));
    for (const day of days) {
      if (known.has(day)) continue;
      const name = partitionName(day);
      const from = day * PARTITION_MS;
      const to = from + PARTITION_MS;
      await client.query(
        `CREATE TABLE ${S}.${name} (LIKE ${S}.logs INCLUDING DEFAULTS);
         ALTER TABLE ${S}.${name} ADD CONSTRAINT ${name}_range CHECK (ts >= ${from} AND ts < ${to});
         ALTER TABLE ${S}.logs ATTACH PARTITION ${S}.${name} FOR VALUES FROM (${from}) TO (${to});
         ALTER TABLE ${S}.${name} DROP CONSTRAINT ${name}_range;`,
      );
      await client.query(`INSERT INTO ${S}.partitions (day, name, from_ts, to_ts) VALUES ($1, $2, $3, $4)`, [
        day,
        name,
        from,
        to,
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
