/**
 * The PostgreSQL log store: one store for many app instances on many hosts (see pg-schema.ts for
 * the tables). Appends are one transaction each: a transaction-scoped advisory lock serialises
 * them across every connection, so ids stay consecutive in append order and each category stays
 * one hash chain (the lock is held from reading the chain heads to COMMIT). Rows go in with one
 * INSERT … SELECT FROM unnest(arrays) per batch. The promise resolves after COMMIT returned, which
 * with PostgreSQL's default synchronous_commit means the entries are durable (WAL flushed).
 *
 * Every wait is bounded: connecting (connectionTimeoutMillis), each statement (statement_timeout)
 * and the client waiting for an answer (query_timeout), so a store that is down or cut off makes
 * an append fail within that time, and the writer spools.
 */
import pg from 'pg';
import { StorageError, SafetynetError } from '../../errors.js';
import {
  LEVELS,
  LEVEL_RANK,
  type LogEntry,
  type LogFilter,
  type SearchOptions,
  type SearchPage,
} from '../types.js';
import { GENESIS_HASH, linkHash } from '../chain.js';
import { assertValidRows } from '../entry-check.js';
import { countByLevel, search } from './pg-search.js';
import { pruneStore } from './pg-retention.js';
import { verifyStore } from './pg-verify.js';
import { DAY_MS, LOCK_APPEND, LOCK_CLASS, PG_SCHEMA, dayOf, ensurePartitions, migrate } from './pg-schema.js';
import { indexedText, webhookBody } from './pg-text.js';
import {
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
} from './types.js';

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
}

/** A stored row as selected (bigint columns parsed to numbers). */
export interface PgRow {
  id: number;
  ts: number;
  level: number;
  category: string;
  message: string;
  details: string;
  order_id: string | null;
  error_stack: string | null;
}

/** One entry of an append batch as JSON (short keys: the batch crosses as one JSON text). */
interface BatchRow {
  i: number;
  t: number;
  l: number;
  c: string;
  m: string;
  d: string;
  o: string | null;
  e: string | null;
  s: number;
  h: string;
  x: string;
}

const INSERT_BATCH = `INSERT INTO ${PG_SCHEMA}.logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash, tsv)
  SELECT i, t, l, c, m, d, o, e, s, decode(h, 'hex'), to_tsvector('simple', x)
  FROM json_to_recordset($1::json) AS r (i bigint, t bigint, l smallint, c text, m text, d text, o text, e text, s bigint, h text, x text)`;

export const PG_COLUMNS = 'id, ts, level, category, message, details, order_id, error_stack';

/** int8 as a JS number (ids, times and counts stay far below 2^53). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number(v);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  },
} as pg.CustomTypesConfig;

export class PostgresLogStore implements LogStore {
  readonly kind = 'postgres';
  readonly capabilities: StoreCapabilities = { fullText: true, multiProcess: true, multiHost: true };
  readonly pool: pg.Pool;
  /** Where the store is, for messages (the connection string without its password). */
  readonly where: string;
  readonly now: () => number;
  private ready: Promise<void> | undefined;
  private readonly days = new Set<number>();
  private closed = false;

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
      types,
    });
    // An idle connection that breaks (server restarted) is reported here; without a listener the
    // process would crash. The next query simply gets a fresh connection.
    this.pool.on('error', () => {});
    // The same for a connection in use (the server stopped mid-query): the query itself rejects,
    // and the 'error' event must not become an uncaught exception.
    this.pool.on('connect', (client) => client.on('error', () => {}));
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
      if (err instanceof SafetynetError || err instanceof SpoolMarkConflict) throw err;
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
    await this.partitionsFor(rows);
    // The indexed text does not depend on the chain: made before taking the append lock.
    const texts = rows.map((r) => indexedText(r.message, webhookBody(r.category, r.details)));
    try {
      return await this.tx('append to', (c) => this.appendIn(c, rows, options, texts));
    } catch (err) {
      // "no partition for row": retention dropped a day this process thought existed (an old
      // timestamp, e.g. an import). Forget what we knew and try once more.
      if ((err as { cause?: { code?: unknown } }).cause?.code !== '23514') throw err;
      this.days.clear();
      await this.partitionsFor(rows);
      return this.tx('append to', (c) => this.appendIn(c, rows, options, texts));
    }
  }

  /** Creates the day partitions the rows need (known ones are cached). */
  private async partitionsFor(rows: { ts: number }[]): Promise<void> {
    const missing = [...new Set(rows.map((r) => dayOf(r.ts)))].filter((d) => !this.days.has(d));
    if (missing.length === 0) return;
    await this.use('create partitions in', (c) => ensurePartitions(c, missing));
    for (const d of missing) this.days.add(d);
  }

  /** The append transaction's body (the transaction is open on `c`). */
  private async appendIn(
    c: pg.PoolClient,
    rows: AppendRow[],
    options: AppendOptions,
    texts: string[],
  ): Promise<AppendResult> {
    await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_APPEND]);
    const mark = options.spoolMark;
    if (mark) {
      const r = await c.query<{ offset_bytes: number }>(
        `SELECT offset_bytes FROM ${S}.spool_offsets WHERE file = $1`,
        [mark.file],
      );
      const at = r.rows[0]?.offset_bytes ?? 0;
      if (at !== mark.from) throw new SpoolMarkConflict(`spool ${mark.file} is at ${at}, not ${mark.from}`);
      await c.query(
        `INSERT INTO ${S}.spool_offsets (file, offset_bytes) VALUES ($1, $2)
         ON CONFLICT (file) DO UPDATE SET offset_bytes = excluded.offset_bytes`,
        [mark.file, mark.to],
      );
    }
    if (rows.length === 0) return { firstId: 0, count: 0 };
    const cats = [...new Set(rows.map((r) => r.category))];
    const heads = new Map<string, { seq: number; hash: string }>();
    const h = await c.query<{ category: string; seq: number; hash: Buffer }>(
      `SELECT category, seq, hash FROM ${S}.chain_heads WHERE category = ANY($1::text[])`,
      [cats],
    );
    for (const r of h.rows) heads.set(r.category, { seq: r.seq, hash: r.hash.toString('hex') });
    // n consecutive ids: nobody else takes ids while we hold the append lock.
    const ids = await c.query<{ first: number }>(
      `SELECT setval('${S}.entry_id', nextval('${S}.entry_id') + $1 - 1) - $1 + 1 AS first`,
      [rows.length],
    );
    const firstId = ids.rows[0]!.first;
    const webhookFirst = await this.webhookFirsts(c, rows, firstId);
    // One JSON parameter for the whole batch: JSON.stringify is native and json_to_recordset
    // parses it once, far cheaper than eleven text-array literals built and parsed element by element.
    const batch: BatchRow[] = new Array<BatchRow>(rows.length);
    let id = firstId;
    for (let i = 0; i < rows.length; i++) {
      const row = pgSafe(rows[i]!);
      let head = heads.get(row.category);
      if (!head) heads.set(row.category, (head = { seq: 0, hash: GENESIS_HASH }));
      const details = webhookFirst.get(id) ?? row.details;
      const seq = head.seq + 1;
      const hash = linkHash(head.hash, {
        id,
        seq,
        ts: row.ts,
        level: row.level,
        category: row.category,
        message: row.message,
        details,
        orderId: row.orderId,
        errorStack: row.errorStack,
      });
      head.seq = seq;
      head.hash = hash;
      batch[i] = {
        i: id,
        t: row.ts,
        l: LEVEL_RANK[row.level],
        c: row.category,
        m: row.message,
        d: details,
        o: row.orderId,
        e: row.errorStack,
        s: seq,
        h: hash,
        x: texts[i]!,
      };
      id++;
    }
    await c.query(INSERT_BATCH, [JSON.stringify(batch)]);
    await c.query(
      `INSERT INTO ${S}.chain_heads (category, seq, hash) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
       ON CONFLICT (category) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
      [cats, cats.map((k) => heads.get(k)!.seq), cats.map((k) => Buffer.from(heads.get(k)!.hash, 'hex'))],
    );
    return { firstId, count: rows.length };
  }

  /**
   * Records the batch's webhook event ids; returns the details (marked `duplicate`, with the first
   * entry's id) of the rows whose event id was seen before, by their new id.
   */
  private async webhookFirsts(
    c: pg.PoolClient,
    rows: AppendRow[],
    firstId: number,
  ): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const hooks = rows.flatMap((r, i) => (r.webhook ? [{ ...r.webhook, id: firstId + i, row: r }] : []));
    if (hooks.length === 0) return out;
    const known = await c.query<{ provider: string; event_id: string; first_id: number }>(
      `SELECT w.provider, w.event_id, w.first_id FROM ${S}.webhook_events w
       JOIN unnest($1::text[], $2::text[]) AS k (provider, event_id) USING (provider, event_id)`,
      [hooks.map((x) => x.provider), hooks.map((x) => x.eventId)],
    );
    const first = new Map<string, number>();
    for (const k of known.rows) first.set(`${k.provider}\u0000${k.event_id}`, k.first_id);
    const fresh: typeof hooks = [];
    for (const x of hooks) {
      const key = `${x.provider}\u0000${x.eventId}`;
      const f = first.get(key);
      if (f === undefined) {
        first.set(key, x.id);
        fresh.push(x);
        continue;
      }
      try {
        const d = JSON.parse(x.row.details) as Record<string, unknown>;
        d.duplicate = true;
        d.duplicateOf = String(f);
        out.set(x.id, JSON.stringify(d));
      } catch {
        // unparseable details stay as they are
      }
    }
    if (fresh.length) {
      await c.query(
        `INSERT INTO ${S}.webhook_events (provider, event_id, first_id) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])`,
        [fresh.map((x) => x.provider), fresh.map((x) => x.eventId), fresh.map((x) => x.id)],
      );
    }
    return out;
  }

  /** Nothing to catch up: the text index is written with the entries. Creates this and next week's partitions ahead of time. */
  async maintain(): Promise<boolean> {
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
      c.query<PgRow>(`SELECT ${PG_COLUMNS} FROM ${S}.logs WHERE id = $1 LIMIT 1`, [Number(id)]),
    );
    return r.rows[0] ? pgEntry(r.rows[0]) : undefined;
  }

  async categories(): Promise<string[]> {
    const r = await this.use('read', (c) =>
      c.query<{ category: string }>(`SELECT category FROM ${S}.chain_heads ORDER BY category COLLATE "C"`),
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
      c.query<PgRow & { seq: number; hash: Buffer }>(
        `SELECT ${PG_COLUMNS}, seq, hash FROM ${S}.logs WHERE id > $1 ORDER BY id LIMIT $2`,
        [afterId, limit],
      ),
    );
    return r.rows.map((x) => ({
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
    await this.partitionsFor(rows);
    await this.tx('copy into', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_APPEND]);
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
      await c.query(
        `INSERT INTO ${S}.logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash, tsv)
         SELECT id, ts, level, category, message, details, order_id, error_stack, seq, hash, to_tsvector('simple', txt)
         FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::bigint[], $10::bytea[], $11::text[])
           AS t (id, ts, level, category, message, details, order_id, error_stack, seq, hash, txt)`,
        [
          ids,
          rows.map((r) => r.ts),
          rows.map((r) => LEVEL_RANK[r.level]),
          rows.map((r) => r.category),
          rows.map((r) => r.message),
          rows.map((r) => r.details),
          rows.map((r) => r.orderId),
          rows.map((r) => r.errorStack),
          rows.map((r) => r.seq),
          rows.map((r) => Buffer.from(r.hash, 'hex')),
          rows.map((r) => indexedText(r.message, webhookBody(r.category, r.details))),
        ],
      );
      if (ids.length) {
        await c.query(
          `SELECT setval('${S}.entry_id', greatest($1::bigint, (SELECT last_value FROM ${S}.entry_id)))`,
          [Math.max(...ids)],
        );
      }
      if (state) await writeChainState(c, state);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** Heads, pruned runs and webhook event ids as stored. */
export async function readChainState(c: pg.ClientBase): Promise<ChainState> {
  const heads = await c.query<{ category: string; seq: number; hash: Buffer }>(
    `SELECT category, seq, hash FROM ${S}.chain_heads ORDER BY category`,
  );
  const pruned = await c.query<{
    category: string;
    from_seq: number;
    to_seq: number;
    last_hash: Buffer;
    count: number;
    pruned_at: number;
  }>(`SELECT category, from_seq, to_seq, last_hash, count, pruned_at FROM ${S}.chain_pruned`);
  const hooks = await c.query<{ provider: string; event_id: string; first_id: number }>(
    `SELECT provider, event_id, first_id FROM ${S}.webhook_events`,
  );
  return {
    heads: heads.rows.map((h) => ({ category: h.category, seq: h.seq, hash: h.hash.toString('hex') })),
    pruned: pruned.rows.map((p) => ({
      category: p.category,
      fromSeq: p.from_seq,
      toSeq: p.to_seq,
      lastHash: p.last_hash.toString('hex'),
      count: p.count,
      prunedAt: p.pruned_at,
    })),
    webhooks: hooks.rows.map((w) => ({ provider: w.provider, eventId: w.event_id, firstId: w.first_id })),
  };
}

async function writeChainState(c: pg.ClientBase, state: ChainState): Promise<void> {
  await c.query(
    `DELETE FROM ${S}.chain_heads; DELETE FROM ${S}.chain_pruned; DELETE FROM ${S}.webhook_events;`,
  );
  const hex = (h: string) => Buffer.from(h, 'hex');
  await c.query(`INSERT INTO ${S}.chain_heads SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])`, [
    state.heads.map((h) => h.category),
    state.heads.map((h) => h.seq),
    state.heads.map((h) => hex(h.hash)),
  ]);
  await c.query(
    `INSERT INTO ${S}.chain_pruned (category, from_seq, to_seq, last_hash, count, pruned_at)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bigint[])`,
    [
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

/** A stored row as the entry readers get. */
export function pgEntry(r: PgRow): LogEntry {
  let details: Record<string, unknown>;
  try {
    const d = JSON.parse(r.details) as unknown;
    details =
      d !== null && typeof d === 'object' && !Array.isArray(d)
        ? (d as Record<string, unknown>)
        : { value: d };
  } catch {
    details = { _unparseable: r.details };
  }
  let timestamp: string;
  try {
    timestamp = new Date(r.ts).toISOString();
  } catch {
    timestamp = String(r.ts);
  }
  return {
    id: String(r.id),
    timestamp,
    level: LEVELS[r.level] ?? 'critical',
    category: r.category,
    message: r.message,
    details,
    order_id: r.order_id,
    error_stack: r.error_stack,
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
