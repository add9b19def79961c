import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { checkAnchors, takeAnchor } from '../../src/log/anchor.js';
import { GENESIS_HASH, linkHash } from '../../src/log/chain.js';
import { tsvectorText } from '../../src/log/store/postgres/copy.js';
import { dayOf, ensurePartitions, migrate } from '../../src/log/store/postgres/schema.js';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import type { AppendRow, LogStore } from '../../src/log/store/types.js';
import { freshDatabase } from '../helpers/pg.js';
import { runLogStoreConformance, type StoreHarness } from './store-conformance.js';

const urls = new WeakMap<LogStore, string>();

async function raw(store: LogStore, sql: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: urls.get(store)! });
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end();
  }
}

const tamper: StoreHarness['tamper'] = {
  async setMessage(store, id, message) {
    await raw(store, 'UPDATE safetynet_log.logs SET message = $1 WHERE id = $2', [message, Number(id)]);
  },
  async deleteEntry(store, id) {
    await raw(store, 'DELETE FROM safetynet_log.logs WHERE id = $1', [Number(id)]);
  },
  async swapIds(store, a, b) {
    await raw(
      store,
      `UPDATE safetynet_log.logs SET id = CASE id WHEN $1 THEN $2::bigint ELSE $1::bigint END WHERE id IN ($1, $2)`,
      [Number(a), Number(b)],
    );
  },
};

function open(url: string): PostgresLogStore {
  const s = new PostgresLogStore({ connectionString: url });
  urls.set(s, url);
  return s;
}

runLogStoreConformance({
  name: 'postgres',
  async create() {
    return open(await freshDatabase());
  },
  async reopen(store) {
    return open(urls.get(store)!);
  },
  tamper,
});

describe('PostgreSQL log store specifics', () => {
  it("merges the text index's pending list in the background, and without it leaves the list to the inserts", async () => {
    /** Entries in the GIN pending lists of the store's partitions (pgstattuple). */
    const pendingTuples = async (url: string): Promise<number> => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query('CREATE EXTENSION IF NOT EXISTS pgstattuple');
        const r = await c.query<{ n: string }>(
          `SELECT coalesce(sum((pgstatginindex(i.indexrelid)).pending_tuples), 0) AS n
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
           JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace
           WHERE a.amname = 'gin' AND s.nspname = 'safetynet_log' AND t.relkind = 'r'`,
        );
        return Number(r.rows[0]!.n);
      } finally {
        await c.end();
      }
    };
    const fill = async (store: PostgresLogStore) => {
      for (let b = 0; b < 8; b++)
        await store.append(
          Array.from({ length: 100 }, (_, i) => ({
            ts: Date.UTC(2026, 0, 5) + b * 100 + i,
            level: 'info' as const,
            category: 'order',
            message: `checkout ${b} ${i} word${i % 7}`,
            details: '{}',
            orderId: null,
            errorStack: null,
          })),
        );
    };
    const withUrl = await freshDatabase();
    const withCleaner = new PostgresLogStore({ connectionString: withUrl, cleanPendingEveryRows: 300 });
    await fill(withCleaner);
    await withCleaner.close(); // waits for a merge under way
    const withoutUrl = await freshDatabase();
    const without = new PostgresLogStore({ connectionString: withoutUrl, cleanPendingEveryRows: Infinity });
    await fill(without);
    await without.close();
    // 800 entries: two merges of 300 ran in the background, 200 are still pending; without the
    // cleaner all 800 wait for an insert to take the list past its 4 MB limit.
    expect(await pendingTuples(withUrl)).toBeLessThan((await pendingTuples(withoutUrl)) / 2);
    expect(await pendingTuples(withoutUrl)).toBeGreaterThan(0);
    const reopened = new PostgresLogStore({ connectionString: withUrl });
    expect((await reopened.countByLevel({ text: 'word3' })).counts.info).toBe(8 * 14); // i = 3, 10, … 94
    await reopened.close();
  });

  it('stores a large batch, and one whose partition another process dropped meanwhile, in full', async () => {
    const store = open(await freshDatabase());
    const ts = Date.UTC(2026, 0, 5, 12);
    // More rows than one piece of COPY text (copy.ts), with text the index must find.
    const batch = (n: number, word: string): AppendRow[] =>
      Array.from({ length: n }, (_, i) => ({
        ts: ts + i,
        level: 'info',
        category: i % 3 ? 'order' : 'payment',
        message: `${word} ${i} Crème`,
        details: '{}',
        orderId: null,
        errorStack: null,
      }));
    await store.append(batch(1300, 'first'));
    // Retention elsewhere removed the week this store has cached as existing.
    const c = new pg.Client({ connectionString: urls.get(store)! });
    await c.connect();
    const part = await c.query<{ name: string }>('SELECT name FROM safetynet_log.partitions');
    await c.query(`DROP TABLE safetynet_log.${part.rows[0]!.name}`);
    await c.query('DELETE FROM safetynet_log.partitions');
    await c.end();
    const r = await store.append(batch(1100, 'second'));
    expect(r.count).toBe(1100);
    expect((await store.search({ text: 'second' }, { limit: 1 })).entries[0]?.message).toBe(
      'second 1099 Crème',
    );
    expect((await store.countByLevel({ text: 'creme' })).counts.info).toBe(1100);
    expect((await store.countByLevel({})).counts.info).toBe(1100);
    await store.close();
  });

  it('stores a NUL or a lone surrogate as U+FFFD (hashed as stored), never failing the batch', async () => {
    const store = open(await freshDatabase());
    const r = await store.append([
      {
        ts: Date.now(),
        level: 'info',
        category: 'order',
        message: 'a\u0000b \ud800 🧾',
        details: '{"k":"\\u0000"}',
        orderId: null,
        errorStack: null,
      },
      {
        ts: Date.now(),
        level: 'info',
        category: 'order',
        message: 'next',
        details: '{}',
        orderId: null,
        errorStack: null,
      },
    ]);
    expect((await store.get(String(r.firstId)))!.message).toBe('a\ufffdb \ufffd 🧾');
    expect(await store.verifyChain()).toMatchObject({ ok: true, checked: 2 });
    await store.close();
  });

  it('two instances migrating at once apply the schema once', async () => {
    const url = await freshDatabase();
    const stores = [open(url), open(url), open(url)];
    await Promise.all(stores.map((s) => s.categories()));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const r = await c.query('SELECT version FROM safetynet_log.migrations ORDER BY version');
    await c.end();
    expect(r.rows).toEqual([{ version: 1 }, { version: 2 }]);
    for (const s of stores) await s.close();
  });
});

const T = Date.UTC(2026, 10, 1, 12);

function entry(i: number, category = 'order'): AppendRow {
  return {
    ts: T + i,
    level: 'info',
    category,
    message: `entry ${i}`,
    details: '{}',
    orderId: null,
    errorStack: null,
  };
}

async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

describe('PostgreSQL writer chains', () => {
  it('gives every store object its own writer: chains per (writer, category), a registry, all verifying', async () => {
    const url = await freshDatabase();
    const a = open(url);
    const b = open(url);
    await Promise.all([
      a.append(Array.from({ length: 30 }, (_, i) => entry(i, i % 2 ? 'order' : 'payment'))),
      b.append(Array.from({ length: 30 }, (_, i) => entry(100 + i, i % 3 ? 'order' : 'email'))),
    ]);
    await a.append([entry(200)]);
    const heads = await sql<{ writer: number; category: string; seq: string }>(
      url,
      'SELECT writer, category, seq FROM safetynet_log.chain_heads ORDER BY writer, category',
    );
    expect(new Set(heads.map((h) => h.writer))).toEqual(new Set([1, 2]));
    const state = await a.chainState();
    expect(state.writers!.map((w) => w.id)).toEqual([1, 2]);
    expect(state.writers![1]!.prevHash).toBe(state.writers![0]!.hash);
    expect(await a.verifyChain()).toMatchObject({ ok: true, checked: 61, chains: heads.length });
    await a.close();
    await b.close();
  });

  it('hands its writer back on close: the next store object continues the same chains', async () => {
    const url = await freshDatabase();
    for (let i = 0; i < 3; i++) {
      const s = open(url);
      await s.append([entry(i)]);
      await s.close();
    }
    const rows = await sql<{ writer: number; seq: string }>(
      url,
      'SELECT writer, seq FROM safetynet_log.logs ORDER BY id',
    );
    expect(rows.map((r) => [r.writer, Number(r.seq)])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    const v = open(url);
    expect(await v.verifyChain()).toMatchObject({ ok: true, checked: 3, chains: 1 });
    await v.close();
  });

  it('takes over an idle writer with its heads, and a writer that lost its lease appends with another', async () => {
    const url = await freshDatabase();
    const a = open(url);
    await a.append([entry(1), entry(2)]);
    // a's process goes quiet past the lease: b takes writer 1 over and continues its chain.
    await sql(url, "UPDATE safetynet_log.writers SET lease_until = now() - interval '1 second'");
    const b = open(url);
    await b.append([entry(3)]);
    const rows = await sql<{ writer: number; seq: string }>(
      url,
      'SELECT writer, seq FROM safetynet_log.logs ORDER BY id',
    );
    expect(rows.map((r) => [r.writer, Number(r.seq)])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    // a still thinks it holds writer 1: its lease check fails, and it registers writer 2.
    await a.append([entry(4)]);
    const last = await sql<{ writer: number; seq: string }>(
      url,
      'SELECT writer, seq FROM safetynet_log.logs ORDER BY id DESC LIMIT 1',
    );
    expect(last.map((r) => [r.writer, Number(r.seq)])).toEqual([[2, 1]]);
    await b.append([entry(5)]);
    expect(await b.verifyChain()).toMatchObject({ ok: true, checked: 5 });
    await a.close();
    await b.close();
  });

  it('catches a writer removed from the registry, a whole writer removed, and an entry moved to another writer', async () => {
    const attacks: [string, (url: string) => Promise<void>, RegExp][] = [
      [
        'registry gap',
        async (url) => {
          await sql(url, 'DELETE FROM safetynet_log.logs WHERE writer = 1');
          await sql(url, 'DELETE FROM safetynet_log.chain_heads WHERE writer = 1');
          await sql(url, 'DELETE FROM safetynet_log.writers WHERE id = 1');
        },
        /registry is missing writer 1/,
      ],
      [
        'whole writer',
        async (url) => {
          await sql(url, 'DELETE FROM safetynet_log.logs WHERE writer = 2');
          await sql(url, 'DELETE FROM safetynet_log.chain_heads WHERE writer = 2');
        },
        /writer 2 is registered but none of its chains is left/,
      ],
      [
        'moved',
        async (url) => {
          await sql(
            url,
            'UPDATE safetynet_log.logs SET writer = 1 WHERE id = (SELECT min(id) FROM safetynet_log.logs WHERE writer = 2)',
          );
        },
        /does not match its hash|out of order/,
      ],
    ];
    for (const [name, attack, reason] of attacks) {
      const url = await freshDatabase();
      const a = open(url);
      const b = open(url);
      await a.append([entry(1), entry(2)]);
      await b.append([entry(3), entry(4)]);
      expect((await a.verifyChain()).ok, name).toBe(true);
      await attack(url);
      const r = await a.verifyChain();
      expect(r.ok, name).toBe(false);
      expect(r.firstBroken!.reason, name).toMatch(reason);
      await a.close();
      await b.close();
    }
  });

  it('anchors record the writer registry: removing the newest writer with all its rows is caught', async () => {
    const url = await freshDatabase();
    const a = open(url);
    const b = open(url);
    await a.append([entry(1)]);
    await b.append([entry(2), entry(3, 'payment')]);
    const anchor = await takeAnchor(a, 'test', Date.now());
    expect(anchor.version).toBe(2);
    expect(anchor.writers).toMatchObject({ count: 2 });
    expect(await checkAnchors(a, [anchor])).toMatchObject({ ok: true });
    // Everything of writer 2 gone, registry and heads included: the chains alone still verify.
    await sql(url, 'DELETE FROM safetynet_log.logs WHERE writer = 2');
    await sql(url, 'DELETE FROM safetynet_log.chain_heads WHERE writer = 2');
    await sql(url, 'DELETE FROM safetynet_log.writers WHERE id = 2');
    expect((await a.verifyChain()).ok).toBe(true);
    const r = await checkAnchors(a, [anchor]);
    expect(r.ok).toBe(false);
    expect(r.problem!.reason).toMatch(/registry ends at writer 1, but the anchor .* records writer 2/);
    await a.close();
    await b.close();
  });

  it('migrates a store written with one chain per category (schema 1): old chains verify, new entries get writer chains', async () => {
    const url = await freshDatabase();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await migrate(c, url, 1);
    await ensurePartitions(c, [dayOf(T)]);
    // Rows as the old store wrote them: v1 links (no writer), ids from the sequence.
    const heads = new Map<string, { seq: number; hash: string }>();
    for (let id = 1; id <= 6; id++) {
      const e = entry(id, id % 2 ? 'order' : 'payment');
      const head = heads.get(e.category) ?? { seq: 0, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const hash = linkHash(head.hash, { id, seq, ...e });
      heads.set(e.category, { seq, hash });
      await c.query(
        `INSERT INTO safetynet_log.logs (id, ts, level, category, message, details, order_id, error_stack, seq, hash, tsv)
         VALUES ($1, $2, 0, $3, $4, '{}', NULL, NULL, $5, $6, to_tsvector('simple', $4))`,
        [id, e.ts, e.category, e.message, seq, Buffer.from(hash, 'hex')],
      );
    }
    for (const [category, h] of heads)
      await c.query('INSERT INTO safetynet_log.chain_heads VALUES ($1, $2, $3)', [
        category,
        h.seq,
        Buffer.from(h.hash, 'hex'),
      ]);
    await c.query("SELECT setval('safetynet_log.entry_id', 6)");
    await c.end();

    const store = open(url);
    expect(await store.verifyChain()).toMatchObject({ ok: true, checked: 6 });
    const r = await store.append([entry(7), entry(8, 'payment')]);
    expect(r.firstId).toBe(7);
    expect(await store.verifyChain()).toMatchObject({ ok: true, checked: 8, chains: 4 });
    expect(await store.categories()).toEqual(['order', 'payment']);
    // The old v1 links are still checked.
    await sql(url, "UPDATE safetynet_log.logs SET message = 'changed' WHERE id = 3");
    expect((await store.verifyChain()).firstBroken).toMatchObject({ id: '3' });
    await store.close();
  });
});

describe('PostgreSQL COPY path', () => {
  it('builds exactly the tsvector to_tsvector would, for repeats, long and odd words', async () => {
    const url = await freshDatabase();
    const texts = [
      '',
      'a b a c a',
      'refund c31337 ref 42 ref',
      Array.from({ length: 300 }, () => 'again').join(' '),
      Array.from({ length: 17000 }, (_, i) => `w${i % 50}`).join(' '),
      'x'.repeat(3000) + ' short',
      'caf\u00e9 na\u00efve 12e5 0x1f',
    ];
    const got = await sql<{ a: string; b: string }>(
      url,
      `SELECT to_tsvector('simple', t)::text AS a, c::tsvector::text AS b FROM unnest($1::text[], $2::text[]) AS x (t, c)`,
      [texts, texts.map(tsvectorText)],
    );
    for (let i = 0; i < texts.length; i++) expect(got[i]!.b, texts[i]!.slice(0, 40)).toBe(got[i]!.a);
  });

  it('stores tabs, newlines, backslashes and \\N-like text exactly', async () => {
    const store = open(await freshDatabase());
    const message = 'tab\there\nline\r\nback\\slash \\N \\x41 end\\';
    const r = await store.append([{ ...entry(1), message, errorStack: 'a\\tb', orderId: '\\N' }]);
    const e = await store.get(String(r.firstId));
    expect(e).toMatchObject({ message, error_stack: 'a\\tb', order_id: '\\N' });
    expect(await store.verifyChain()).toMatchObject({ ok: true });
    await store.close();
  });
});
