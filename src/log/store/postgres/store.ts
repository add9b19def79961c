/**
 * The PostgreSQL log store: one store for many app instances on many hosts (see postgres/schema.ts for
 * the tables). Each store object appends as a registered *writer* with one hash chain per
 * (writer, category), computed here in the client: appends from different processes never wait
 * for each other (no lock is shared between writers; see docs/logging.md, "Tamper evidence with
 * many writers"). A batch reserves its ids in a short transaction of its own (consecutive within
 * the batch), then one transaction renews the writer's lease, COPYs the rows (postgres/copy.ts) and
 * records the writer's new chain heads. The promise resolves after COMMIT returned, which with
 * PostgreSQL's default synchronous_commit means the entries are durable (WAL flushed).
 *
 * Every wait is bounded: connecting (connectionTimeoutMillis), each statement (statement_timeout)
 * and the client waiting for an answer (query_timeout), so a store that is down or cut off makes
 * an append fail within that time, and the writer spools.
 */
import { COLUMNS, type StoredRow, toEntry } from '../stored-row.js';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { StorageError, SafetynetError } from '../../../errors.js';
import {
  LEVELS,
  LEVEL_RANK,
  type LogEntry,
  type LogFilter,
  type SearchOptions,
  type SearchPage,
} from '../../types.js';
import { GENESIS_HASH, linkHashOf, writerHash } from '../../chain.js';
import { assertValidRows } from '../../entry-check.js';
import { countByLevel, search } from './search.js';
import { pruneStore } from './retention.js';
import { verifyStore } from './verify.js';
import { DAY_MS, LOCK_CLASS, LOCK_WRITERS, PG_SCHEMA, dayOf, ensurePartitions, migrate } from './schema.js';
import { copyRows, type CopyRow } from './copy.js';
import { PendingListCleaner } from './pending-list.js';
import { indexedText, webhookBody } from './text.js';
import {
  SPOOL_FILE_STORED,
  SpoolMarkConflict,
  type AppendOptions,
  type AppendResult,
  type AppendRow,
  type ChainState,
  type CountOptions,
  type LevelCounts,
  type LogStore,
  type PruneOptions,
  type PruneReport,
  type RawEntry,
  type StoreCapabilities,
  type VerifyReport,
} from '../types.js';

const S = PG_SCHEMA;

export interface PgStoreOptions {
  /** postgres://… ; when absent, the standard PG* environment variables apply (PGHOST, PGDATABASE …). */
  connectionString?: string;
  /** Bound on connecting and on each statement, ms (default 5000). */
  timeoutMs?: number;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** Used for `pruned_at` records. */
  now?: () => number;
  /**
   * Entries appended between background merges of the text index's pending lists (default
   * CLEAN_EVERY_ROWS; Infinity: never, inserts merge them inline). See postgres/pending-list.ts.
   */
  cleanPendingEveryRows?: number;
}

/**
 * The writer's new chain heads, after the batch's entries went in with COPY (postgres/copy.ts),
 * and the batch's mark (BatchMark: $5 recorded as wholly stored, $6 forgotten; both null without
 * one) in the same statement: a round trip per batch fewer than a statement of its own (which
 * cost 1M entries from 4 processes 20-30 % more time).
 */
const UPSERT_HEADS = `WITH gone AS (DELETE FROM ${PG_SCHEMA}.spool_offsets WHERE file = $6::text),
  mark AS (INSERT INTO ${PG_SCHEMA}.spool_offsets (file, offset_bytes) SELECT $5::text, $7::bigint WHERE $5::text IS NOT NULL
    ON CONFLICT (file) DO UPDATE SET offset_bytes = excluded.offset_bytes)
INSERT INTO ${PG_SCHEMA}.chain_heads (writer, category, seq, hash)
  SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bytea[])
ON CONFLICT (writer, category) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`;

/** How long a writer stays its process's after its last append (then an idle writer may be taken over). */
const LEASE = '10 minutes';

/** A writer this store object holds: its number, its lease token, and its chains' heads. */
interface WriterState {
  id: number;
  token: string;
  heads: Map<string, { seq: number; hash: string }>;
}

/** The writer's lease was taken over (this process was idle past the lease): append with another. */
class LeaseLost extends Error {}

/** int8 as a JS number (ids, times and counts stay far below 2^53). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number(v);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  },
} as pg.CustomTypesConfig;

/** What the PostgreSQL store can do (see StoreCapabilities). */
export const PG_CAPABILITIES: Readonly<StoreCapabilities> = {
  fullText: true,
  multiProcess: true,
  multiHost: true,
  writerChains: true,
  unsureCommits: true,
  serverCommits: true,
};

export class PostgresLogStore implements LogStore {
  readonly kind = 'postgres';
  readonly capabilities: StoreCapabilities = PG_CAPABILITIES;
  readonly pool: pg.Pool;
  /** Where the store is, for messages (the connection string without its password). */
  readonly where: string;
  readonly now: () => number;
  private ready: Promise<void> | undefined;
  private readonly days = new Set<number>();
  private closed = false;
  /** The writer whose chains this store object extends (taken on its first append). */
  private writer: WriterState | null = null;
  /** The append in progress: appends of one store object run one after the other. */
  private appending: Promise<unknown> = Promise.resolve();
  /** Merges the GIN pending lists in the background (see postgres/pending-list.ts). */
  private readonly pendingLists: PendingListCleaner;

  constructor(options: PgStoreOptions = {}) {
    const timeout = options.timeoutMs ?? 5000;
    this.where = describe(options.connectionString);
    this.now = options.now ?? Date.now;
    this.pool = new pg.Pool({
      ...(options.connectionString ? { connectionString: options.connectionString } : {}),
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: timeout,
      statement_timeout: timeout * 6,
      query_timeout: timeout * 6 + 1000,
      idleTimeoutMillis: 30_000,
      application_name: 'safetynet-log',
      // No JIT: the store's queries are short, and JIT compiled the bigger ones for hundreds of
      // ms each time (a rare word on 10M entries: 715 ms p95 with it).
      options: '-c jit=off',
      types,
    });
    // An idle connection that breaks (server restarted) is reported here; without a listener the
    // process would crash. The next query simply gets a fresh connection.
    this.pool.on('error', () => {});
    // The same for a connection in use (the server stopped mid-query): the query itself rejects,
    // and the 'error' event must not become an uncaught exception.
    this.pool.on('connect', (client) => client.on('error', () => {}));
    this.pendingLists = new PendingListCleaner(
      (work) => this.tx('clean the text index of', work),
      options.cleanPendingEveryRows,
    );
  }

  /** Runs the migrations once per store object (again after a failure). */
  private async init(): Promise<void> {
    if (this.closed)
      throw new SafetynetError('E_LOG_CLOSED', 'the log store was closed', { hint: 'open it again' });
    this.ready ??= (async () => {
      const client = await this.pool.connect();
      try {
        await migrate(client, this.where);
        client.release();
      } catch (err) {
        client.release(true);
        throw err;
      }
    })().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    await this.ready;
  }

  /** Runs `fn` with a pooled connection once the schema is in place; errors become StorageErrors. */
  async use<T>(verb: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      await this.init();
      const client = await this.pool.connect();
      let broken = false;
      try {
        return await fn(client);
      } catch (err) {
        broken = isConnectionError(err);
        throw err;
      } finally {
        client.release(broken);
      }
    } catch (err) {
      if (err instanceof SafetynetError || err instanceof SpoolMarkConflict || err instanceof LeaseLost)
        throw err;
      throw pgError(this.where, verb, err);
    }
  }

  /** Runs `fn` in a transaction (ROLLBACK when it throws). */
  async tx<T>(verb: string, fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    return this.use(verb, async (c) => {
      await c.query(begin);
      try {
        const r = await fn(c);
        await c.query('COMMIT');
        return r;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  // ---------------------------------------------------------------- append

  async append(rows: AppendRow[], options: AppendOptions = {}): Promise<AppendResult> {
    if (rows.length === 0 && !options.spoolMark) return { firstId: 0, count: 0 };
    assertValidRows(rows);
    const safe = rows.map(pgSafe);
    // One append at a time per store object: its writer's chains continue from the previous batch.
    const run = this.appending.then(() => this.appendNow(safe, options));
    this.appending = run.catch(() => {});
    return run;
  }

  private async appendNow(rows: AppendRow[], options: AppendOptions): Promise<AppendResult> {
    const weeks = weeksOf(rows);
    await this.partitionsFor(weeks);
    const firstId = rows.length ? await this.reserveIds(rows.length) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const { result, writer } = await this.tx('append to', (c) =>
          this.appendIn(c, rows, options, firstId),
        );
        if (writer) this.writer = writer;
        this.pendingLists.appended(weeks, rows.length);
        return result;
      } catch (err) {
        // Whatever failed (even a COMMIT whose answer was lost), the next append takes a writer
        // afresh, with its heads as committed: never continue a chain from a guess.
        this.writer = null;
        if (attempt > 0) throw err;
        if (err instanceof LeaseLost) continue;
        // "no partition for row": retention dropped a partition this process thought existed (an
        // old timestamp, e.g. an import). Forget what we knew and try once more.
        if ((err as { cause?: { code?: unknown } }).cause?.code !== '23514') throw err;
        this.days.clear();
        await this.partitionsFor(weeks);
      }
    }
  }

  /** Creates the week partitions `weeks` (weeksOf) that do not exist yet (known ones are cached). */
  private async partitionsFor(weeks: Set<number>): Promise<void> {
    const missing = [...weeks].filter((d) => !this.days.has(d));
    if (missing.length === 0) return;
    await this.use('create partitions in', (c) => ensurePartitions(c, missing));
    for (const d of missing) this.days.add(d);
  }

  /**
   * Reserves `n` consecutive entry ids in a transaction of its own, so appends never wait for each
   * other's commits. It may commit asynchronously: the entries' own commit record comes later in
   * the WAL, so whenever they are durable, so is the reservation (a lost reservation of entries
   * that were never stored leaves only a gap in the ids).
   */
  private async reserveIds(n: number): Promise<number> {
    const r = await this.use('append to', (c) =>
      c.query(
        `BEGIN; SET LOCAL synchronous_commit = off;
         UPDATE ${S}.id_counter SET next_id = next_id + ${n} RETURNING next_id - ${n} AS first; COMMIT`,
      ),
    );
    const results = r as unknown as pg.QueryResult<{ first: number }>[];
    return results[2]!.rows[0]!.first;
  }

  /** The append transaction's body (the transaction is open on `c`). */
  private async appendIn(
    c: pg.PoolClient,
    rows: AppendRow[],
    options: AppendOptions,
    firstId: number,
  ): Promise<{ result: AppendResult; writer?: WriterState }> {
    const mark = options.spoolMark;
    if (mark) {
      const r = await c.query<{ offset_bytes: number }>(
        `SELECT offset_bytes FROM ${S}.spool_offsets WHERE file = $1 FOR UPDATE`,
        [mark.file],
      );
      const at = r.rows[0]?.offset_bytes ?? 0;
      if (at !== mark.from) throw new SpoolMarkConflict(`spool ${mark.file} is at ${at}, not ${mark.from}`);
      await c
        .query(
          `INSERT INTO ${S}.spool_offsets (file, offset_bytes) VALUES ($1, $2)
         ON CONFLICT (file) DO UPDATE SET offset_bytes = excluded.offset_bytes
         WHERE ${S}.spool_offsets.offset_bytes = $3`,
          [mark.file, mark.to, mark.from],
        )
        .then((u) => {
          if (u.rowCount !== 1) throw new SpoolMarkConflict(`spool ${mark.file} moved past ${mark.from}`);
        });
    }
    if (rows.length === 0) return { result: { firstId: 0, count: 0 } };
    const w = await this.claimWriter(c);
    const heads = new Map([...w.heads].map(([k, v]) => [k, { ...v }]));
    const webhookFirst = await webhookFirsts(c, rows, firstId);
    // Hashes are computed here, in the client: the chain is this writer's alone, so nothing in
    // the database has to be read or locked for it. Each row is hashed and formatted as the COPY
    // stream asks for it (see copy.ts, PIECE_ROWS), so the rows of a large commit are never all
    // held at once; when the COPY is done, `heads` holds the new chain heads.
    await copyRows(c, linked(rows, w.id, firstId, heads, webhookFirst));
    const cats = [...new Set(rows.map((r) => r.category))];
    const batchMark = options.batchMark;
    await c.query(UPSERT_HEADS, [
      w.id,
      cats,
      cats.map((k) => heads.get(k)!.seq),
      cats.map((k) => Buffer.from(heads.get(k)!.hash, 'hex')),
      batchMark?.file ?? null,
      batchMark?.forget ?? null,
      SPOOL_FILE_STORED,
    ]);
    return { result: { firstId, count: rows.length }, writer: { id: w.id, token: w.token, heads } };
  }

  /**
   * This store object's writer, checked inside the append transaction: its lease renewed when it
   * still holds it (LeaseLost otherwise); else an idle writer taken over (one whose lease ran out:
   * its process stopped logging or died), with its heads as committed; else a new writer
   * registered, linked to the previous registration, under a lock only registrations take.
   */
  private async claimWriter(c: pg.PoolClient): Promise<WriterState> {
    if (this.writer) {
      const r = await c.query(
        `UPDATE ${S}.writers SET lease_until = now() + $3::interval WHERE id = $1 AND token = $2`,
        [this.writer.id, this.writer.token, LEASE],
      );
      if (r.rowCount !== 1) throw new LeaseLost();
      return this.writer;
    }
    const token = randomBytes(16).toString('hex');
    const host = os.hostname();
    const idle = await c.query<{ id: number }>(
      `UPDATE ${S}.writers SET token = $1, lease_until = now() + $2::interval, host = $3, pid = $4
       WHERE id = (SELECT id FROM ${S}.writers WHERE lease_until < now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [token, LEASE, host, process.pid],
    );
    if (idle.rows[0]) {
      const wid = idle.rows[0].id;
      const h = await c.query<{ category: string; seq: number; hash: Buffer }>(
        `SELECT category, seq, hash FROM ${S}.chain_heads WHERE writer = $1`,
        [wid],
      );
      return {
        id: wid,
        token,
        heads: new Map(h.rows.map((x) => [x.category, { seq: x.seq, hash: x.hash.toString('hex') }])),
      };
    }
    await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_WRITERS]);
    const last = await c.query<{ id: number; hash: Buffer }>(
      `SELECT id, hash FROM ${S}.writers ORDER BY id DESC LIMIT 1`,
    );
    const wid = (last.rows[0]?.id ?? 0) + 1;
    const prev = last.rows[0]?.hash.toString('hex') ?? GENESIS_HASH;
    const registeredAt = Date.now();
    const hash = writerHash(prev, { id: wid, registeredAt });
    await c.query(
      `INSERT INTO ${S}.writers (id, registered_at, prev_hash, hash, token, lease_until, host, pid)
       VALUES ($1, $2, $3, $4, $5, now() + $6::interval, $7, $8)`,
      [
        wid,
        registeredAt,
        Buffer.from(prev, 'hex'),
        Buffer.from(hash, 'hex'),
        token,
        LEASE,
        host,
        process.pid,
      ],
    );
    return { id: wid, token, heads: new Map() };
  }

  /**
   * Nothing to catch up: the text index is written with the entries. Merges its pending lists in
   * the background if entries were appended since the last merge, and creates this and next
   * week's partitions ahead of time.
   */
  async maintain(): Promise<boolean> {
    this.pendingLists.idle();
    const current = dayOf(this.now());
    const ahead = [current, current + 1].filter((d) => !this.days.has(d));
    if (ahead.length) {
      await this.use('create partitions in', (c) => ensurePartitions(c, ahead));
      for (const d of ahead) this.days.add(d);
    }
    return false;
  }

  indexBacklog(): number {
    return 0;
  }

  // ---------------------------------------------------------------- read

  search(filter: LogFilter, options?: SearchOptions): Promise<SearchPage> {
    return search(this, filter, options);
  }

  countByLevel(filter: LogFilter, options?: CountOptions): Promise<LevelCounts> {
    return countByLevel(this, filter, options);
  }

  async get(id: string): Promise<LogEntry | undefined> {
    if (!/^\d{1,15}$/.test(id)) return undefined;
    const r = await this.use('read', (c) =>
      c.query<StoredRow>(`SELECT ${COLUMNS} FROM ${S}.logs WHERE id = $1 LIMIT 1`, [Number(id)]),
    );
    return r.rows[0] ? toEntry(r.rows[0]) : undefined;
  }

  async categories(): Promise<string[]> {
    const r = await this.use('read', (c) =>
      c.query<{ category: string }>(
        `SELECT category FROM ${S}.chain_heads GROUP BY category ORDER BY category COLLATE "C"`,
      ),
    );
    return r.rows.map((x) => x.category);
  }

  verifyChain(): Promise<VerifyReport> {
    return verifyStore(this);
  }

  prune(options: PruneOptions): Promise<PruneReport> {
    return pruneStore(this, options);
  }

  // ---------------------------------------------------------------- spool bookkeeping

  async spoolOffset(file: string): Promise<number> {
    const r = await this.use('read', (c) =>
      c.query<{ offset_bytes: number }>(`SELECT offset_bytes FROM ${S}.spool_offsets WHERE file = $1`, [
        file,
      ]),
    );
    return r.rows[0]?.offset_bytes ?? 0;
  }

  async forgetSpool(file: string): Promise<void> {
    await this.use('write', (c) => c.query(`DELETE FROM ${S}.spool_offsets WHERE file = $1`, [file]));
  }

  // ---------------------------------------------------------------- raw copy

  async readRaw(afterId: number, limit: number): Promise<RawEntry[]> {
    const r = await this.use('read', (c) =>
      c.query<StoredRow & { writer: number; seq: number; hash: Buffer }>(
        `SELECT writer, ${COLUMNS}, seq, hash FROM ${S}.logs WHERE id > $1 ORDER BY id LIMIT $2`,
        [afterId, limit],
      ),
    );
    return r.rows.map((x) => ({
      ...(x.writer ? { writer: x.writer } : {}),
      id: x.id,
      ts: x.ts,
      level: LEVELS[x.level] ?? 'critical',
      category: x.category,
      message: x.message,
      details: x.details,
      orderId: x.order_id,
      errorStack: x.error_stack,
      seq: x.seq,
      hash: x.hash.toString('hex'),
    }));
  }

  async chainState(): Promise<ChainState> {
    return this.use('read', (c) => readChainState(c));
  }

  async writeRaw(rows: RawEntry[], state?: ChainState): Promise<void> {
    await this.partitionsFor(weeksOf(rows));
    await this.tx('copy into', async (c) => {
      const ids = rows.map((r) => r.id);
      const clash = await c.query(`SELECT id FROM ${S}.logs WHERE id = ANY($1::bigint[]) LIMIT 1`, [ids]);
      if (clash.rowCount) {
        throw new StorageError(
          'E_LOG_COPY_CLASH',
          `the target log store already has entry ${clash.rows[0].id}`,
          {
            hint: 'copy into an empty log store',
          },
        );
      }
      await copyRows(
        c,
        rows.map((r) => ({
          writer: r.writer ?? 0,
          id: r.id,
          ts: r.ts,
          level: LEVEL_RANK[r.level],
          category: r.category,
          message: r.message,
          details: r.details,
          orderId: r.orderId,
          errorStack: r.errorStack,
          seq: r.seq,
          hash: r.hash,
          text: indexedText(r.message, webhookBody(r.category, r.details)),
        })),
      );
      if (ids.length) {
        await c.query(`UPDATE ${S}.id_counter SET next_id = greatest(next_id, $1::bigint + 1)`, [
          Math.max(...ids),
        ]);
      }
      if (state) await writeChainState(c, state);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.appending;
    await this.pendingLists.settled();
    // Hand the writer back (its lease ends now), so the next process to start continues its
    // chains instead of registering another writer. Best effort: an unreachable server keeps it
    // leased until the lease runs out.
    const w = this.writer;
    this.writer = null;
    if (w && this.ready) {
      await this.pool
        .query(
          `UPDATE ${S}.writers SET lease_until = now() - interval '1 second' WHERE id = $1 AND token = $2`,
          [w.id, w.token],
        )
        .catch(() => {});
    }
    this.closed = true;
    await this.pool.end();
  }
}

/** Heads, pruned runs and webhook event ids as stored. */
export async function readChainState(c: pg.ClientBase): Promise<ChainState> {
  const heads = await c.query<{ writer: number; category: string; seq: number; hash: Buffer }>(
    `SELECT writer, category, seq, hash FROM ${S}.chain_heads ORDER BY writer, category`,
  );
  const pruned = await c.query<{
    writer: number;
    category: string;
    from_seq: number;
    to_seq: number;
    last_hash: Buffer;
    count: number;
    pruned_at: number;
  }>(`SELECT writer, category, from_seq, to_seq, last_hash, count, pruned_at FROM ${S}.chain_pruned`);
  const hooks = await c.query<{ provider: string; event_id: string; first_id: number }>(
    `SELECT provider, event_id, first_id FROM ${S}.webhook_events`,
  );
  const writers = await c.query<{ id: number; registered_at: number; prev_hash: Buffer; hash: Buffer }>(
    `SELECT id, registered_at, prev_hash, hash FROM ${S}.writers ORDER BY id`,
  );
  return {
    heads: heads.rows.map((h) => ({
      ...(h.writer ? { writer: h.writer } : {}),
      category: h.category,
      seq: h.seq,
      hash: h.hash.toString('hex'),
    })),
    pruned: pruned.rows.map((p) => ({
      ...(p.writer ? { writer: p.writer } : {}),
      category: p.category,
      fromSeq: p.from_seq,
      toSeq: p.to_seq,
      lastHash: p.last_hash.toString('hex'),
      count: p.count,
      prunedAt: p.pruned_at,
    })),
    webhooks: hooks.rows.map((w) => ({ provider: w.provider, eventId: w.event_id, firstId: w.first_id })),
    writers: writers.rows.map((w) => ({
      id: w.id,
      registeredAt: w.registered_at,
      prevHash: w.prev_hash.toString('hex'),
      hash: w.hash.toString('hex'),
    })),
  };
}

async function writeChainState(c: pg.ClientBase, state: ChainState): Promise<void> {
  await c.query(
    `DELETE FROM ${S}.chain_heads; DELETE FROM ${S}.chain_pruned; DELETE FROM ${S}.webhook_events; DELETE FROM ${S}.writers;`,
  );
  const hex = (h: string) => Buffer.from(h, 'hex');
  await c.query(
    `INSERT INTO ${S}.chain_heads (writer, category, seq, hash)
     SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bytea[])`,
    [
      state.heads.map((h) => h.writer ?? 0),
      state.heads.map((h) => h.category),
      state.heads.map((h) => h.seq),
      state.heads.map((h) => hex(h.hash)),
    ],
  );
  await c.query(
    `INSERT INTO ${S}.chain_pruned (writer, category, from_seq, to_seq, last_hash, count, pruned_at)
     SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[], $6::bigint[], $7::bigint[])`,
    [
      state.pruned.map((p) => p.writer ?? 0),
      state.pruned.map((p) => p.category),
      state.pruned.map((p) => p.fromSeq),
      state.pruned.map((p) => p.toSeq),
      state.pruned.map((p) => hex(p.lastHash)),
      state.pruned.map((p) => p.count),
      state.pruned.map((p) => p.prunedAt),
    ],
  );
  await c.query(
    `INSERT INTO ${S}.webhook_events SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])`,
    [
      state.webhooks.map((w) => w.provider),
      state.webhooks.map((w) => w.eventId),
      state.webhooks.map((w) => w.firstId),
    ],
  );
  // Copied writers keep their registry links; their leases have run out, so new appends may
  // take them over (and continue their chains) or register writers after them.
  const writers = state.writers ?? [];
  await c.query(
    `INSERT INTO ${S}.writers (id, registered_at, prev_hash, hash, token, lease_until, host, pid)
     SELECT id, at, prev, hash, '', '-infinity', '', 0 FROM unnest($1::int[], $2::bigint[], $3::bytea[], $4::bytea[]) AS w (id, at, prev, hash)`,
    [
      writers.map((w) => w.id),
      writers.map((w) => w.registeredAt),
      writers.map((w) => hex(w.prevHash)),
      writers.map((w) => hex(w.hash)),
    ],
  );
}

/**
 * Records the batch's webhook event ids (concurrent writers may record the same one: the insert
 * waits for the other transaction and then skips the key); returns the details, marked
 * `duplicate` with the first entry's id, of the rows whose event id was recorded before, by id.
 */
async function webhookFirsts(
  c: pg.PoolClient,
  rows: AppendRow[],
  firstId: number,
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const hooks = rows.flatMap((r, i) => (r.webhook ? [{ ...r.webhook, id: firstId + i, row: r }] : []));
  if (hooks.length === 0) return out;
  const keyOf = (x: { provider: string; eventId: string }) => `${x.provider}\u0000${x.eventId}`;
  const firstInBatch = new Map<string, (typeof hooks)[number]>();
  for (const x of hooks) if (!firstInBatch.has(keyOf(x))) firstInBatch.set(keyOf(x), x);
  const cand = [...firstInBatch.values()];
  const fresh = await c.query<{ provider: string; event_id: string }>(
    `INSERT INTO ${S}.webhook_events (provider, event_id, first_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING RETURNING provider, event_id`,
    [cand.map((x) => x.provider), cand.map((x) => x.eventId), cand.map((x) => x.id)],
  );
  const first = new Map<string, number>();
  for (const k of fresh.rows)
    first.set(`${k.provider}\u0000${k.event_id}`, firstInBatch.get(`${k.provider}\u0000${k.event_id}`)!.id);
  const older = cand.filter((x) => !first.has(keyOf(x)));
  if (older.length) {
    const known = await c.query<{ provider: string; event_id: string; first_id: number }>(
      `SELECT w.provider, w.event_id, w.first_id FROM ${S}.webhook_events w
       JOIN unnest($1::text[], $2::text[]) AS k (provider, event_id) USING (provider, event_id)`,
      [older.map((x) => x.provider), older.map((x) => x.eventId)],
    );
    for (const k of known.rows) first.set(`${k.provider}\u0000${k.event_id}`, k.first_id);
  }
  for (const x of hooks) {
    const f = first.get(keyOf(x));
    if (f === undefined || f === x.id) continue;
    try {
      const d = JSON.parse(x.row.details) as Record<string, unknown>;
      d.duplicate = true;
      d.duplicateOf = String(f);
      out.set(x.id, JSON.stringify(d));
    } catch {
      // unparseable details stay as they are
    }
  }
  return out;
}

/** The week partitions (dayOf) that rows fall in. */
function weeksOf(rows: { ts: number }[]): Set<number> {
  const weeks = new Set<number>();
  for (const r of rows) weeks.add(dayOf(r.ts));
  return weeks;
}

/**
 * The rows of an append as they go into `logs`, in order, each linked to the previous entry of its
 * category in writer `writer`'s chains: `heads` (the chains' heads before the rows) is advanced
 * as the rows are read. A repeated webhook's row carries the details `webhookFirst` gives it.
 */
function* linked(
  rows: AppendRow[],
  writer: number,
  firstId: number,
  heads: Map<string, { seq: number; hash: string }>,
  webhookFirst: Map<number, string>,
): Generator<CopyRow> {
  let id = firstId;
  for (const row of rows) {
    let head = heads.get(row.category);
    if (!head) heads.set(row.category, (head = { seq: 0, hash: GENESIS_HASH }));
    const details = webhookFirst.get(id) ?? row.details;
    const seq = head.seq + 1;
    const hash = linkHashOf(
      head.hash,
      id,
      seq,
      row.ts,
      row.level,
      row.category,
      row.message,
      details,
      row.orderId,
      row.errorStack,
      writer,
    );
    head.seq = seq;
    head.hash = hash;
    yield {
      writer,
      id,
      ts: row.ts,
      level: LEVEL_RANK[row.level],
      category: row.category,
      message: row.message,
      details,
      orderId: row.orderId,
      errorStack: row.errorStack,
      seq,
      hash,
      text: indexedText(row.message, webhookBody(row.category, row.details)),
    };
    id++;
  }
}

/**
 * PostgreSQL text cannot hold NUL, nor JSON a lone surrogate: both become U+FFFD before the entry
 * is hashed, so what is stored is exactly what the chain covers (one bad entry must never make a
 * whole batch, and then the spool replay, fail forever).
 */
function pgSafe(row: AppendRow): AppendRow {
  // eslint-disable-next-line no-control-regex -- NUL is exactly what PostgreSQL text cannot hold
  const bad = /[\u0000\ud800-\udfff]/;
  if (
    !bad.test(row.message) &&
    !bad.test(row.details) &&
    !bad.test(row.category) &&
    !(row.orderId && bad.test(row.orderId)) &&
    !(row.errorStack && bad.test(row.errorStack))
  )
    return row;
  const fix = (s: string) =>
    // eslint-disable-next-line no-control-regex -- as above
    s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\u0000/g, '\ufffd');
  return {
    ...row,
    category: fix(row.category),
    message: fix(row.message),
    details: fix(row.details),
    orderId: row.orderId === null ? null : fix(row.orderId),
    errorStack: row.errorStack === null ? null : fix(row.errorStack),
  };
}

/** True for errors that mean the connection itself is unusable (drop it from the pool). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^(08|57P0)/.test(code)) return true;
  const msg = err instanceof Error ? err.message : '';
  return /Connection terminated|timeout|ECONNRESET|EPIPE|not queryable/i.test(msg);
}

/** The connection string without a password, for messages. */
function describe(connectionString: string | undefined): string {
  if (!connectionString) return 'postgres (PG* environment)';
  try {
    const u = new URL(connectionString);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres (connection string)';
  }
}

function pgError(where: string, verb: string, err: unknown): StorageError {
  const code = (err as { code?: unknown })?.code;
  const msg = err instanceof Error ? err.message : String(err);
  const transient = isConnectionError(err) || code === 'ECONNREFUSED' || code === '55P03' || code === '40P01';
  return new StorageError(
    'E_LOG_STORE',
    `cannot ${verb} the log store ${where}: ${msg}${typeof code === 'string' ? ` (${code})` : ''}`,
    {
      hint: transient
        ? 'PostgreSQL is unreachable or busy; entries wait in the spool and are replayed when it is back'
        : 'check logs.store.connectionString: the server must be reachable and the user allowed to create the safetynet_log schema',
      cause: err,
      transient,
    },
  );
}

export { DAY_MS };
