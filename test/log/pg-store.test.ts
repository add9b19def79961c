import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresLogStore } from '../../src/log/store/pg-store.js';
import type { LogStore } from '../../src/log/store/types.js';
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
    const r = await c.query('SELECT version FROM safetynet_log.migrations');
    await c.end();
    expect(r.rows).toEqual([{ version: 1 }]);
    for (const s of stores) await s.close();
  });
});
