import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { TEXT_SLICE_ROWS } from '../../src/log/store/sqlite/text-index.js';
import type { LogStore } from '../../src/log/store/types.js';
import { tempDir } from '../helpers/tmp.js';
import { runLogStoreConformance, type StoreHarness } from './store-conformance.js';

const T0 = Date.UTC(2026, 10, 1);

function raw(store: LogStore): Database.Database {
  return (store as SqliteLogStore).db;
}

const tamper: StoreHarness['tamper'] = {
  async setMessage(store, id, message) {
    raw(store).prepare('UPDATE logs SET message = ? WHERE id = ?').run(message, Number(id));
  },
  async deleteEntry(store, id) {
    raw(store).prepare('DELETE FROM logs WHERE id = ?').run(Number(id));
  },
  async swapIds(store, a, b) {
    const db = raw(store);
    db.transaction(() => {
      db.prepare('UPDATE logs SET id = -1 WHERE id = ?').run(Number(a));
      db.prepare('UPDATE logs SET id = ? WHERE id = ?').run(Number(a), Number(b));
      db.prepare('UPDATE logs SET id = ? WHERE id = -1').run(Number(b));
    })();
  },
};

runLogStoreConformance({
  name: 'sqlite',
  async create() {
    return SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'));
  },
  async reopen(store) {
    return SqliteLogStore.open((store as SqliteLogStore).file);
  },
  tamper,
});

// The same suite with every text search planned as "common" (walk newest-first and probe the
// index per entry) instead of "rare" (collect the matches first), so both plans are exercised.
runLogStoreConformance({
  name: 'sqlite, text searches walking newest-first',
  async create() {
    return SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'), { commonTextMatches: 1 });
  },
  async reopen(store) {
    return SqliteLogStore.open((store as SqliteLogStore).file);
  },
  tamper,
});

describe('SQLite log store specifics', () => {
  it('opens in WAL mode with synchronous=FULL', () => {
    const store = SqliteLogStore.open(path.join(tempDir(), 'a', 'b', 'logs.sqlite'));
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    store.closeSync();
  });

  it.each([10_000, 1])(
    'finds entries by text before the full-text index has caught up (plan at %i matches)',
    async (common) => {
      const store = SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'), { commonTextMatches: common });
      store.appendSync([
        {
          ts: T0,
          level: 'info',
          category: 'order',
          message: 'indexed refund',
          details: '{}',
          orderId: null,
          errorStack: null,
        },
      ]);
      store.indexTextSync();
      store.appendSync([
        {
          ts: T0 + 1,
          level: 'info',
          category: 'order',
          message: 'fresh Refund 100%_off',
          details: '{}',
          orderId: null,
          errorStack: null,
        },
      ]);
      expect(store.ftsBacklog()).toBe(1);
      expect((await store.search({ text: 'refund' })).entries.map((e) => e.message)).toEqual([
        'fresh Refund 100%_off',
        'indexed refund',
      ]);
      // LIKE wildcards in the query are literal.
      expect((await store.search({ text: '100%_off' })).entries.length).toBe(1);
      expect((await store.search({ text: '1_0' })).entries.length).toBe(0);
      expect(store.indexTextSync()).toBe(1);
      expect(store.ftsBacklog()).toBe(0);
      expect((await store.search({ text: 'refund' })).entries.length).toBe(2);
      store.closeSync();
    },
  );

  it('indexes in slices of TEXT_SLICE_ROWS whatever budget the writer asks for', async () => {
    const store = SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'));
    const n = TEXT_SLICE_ROWS + 10;
    const rows = Array.from({ length: n }, (_, i) => ({
      ts: T0 + i,
      level: 'info' as const,
      category: 'order',
      message: i === 0 ? 'oldest parcel' : i === n - 1 ? 'newest parcel' : `entry ${i}`,
      details: '{}',
      orderId: null,
      errorStack: null,
    }));
    await store.append(rows, { deferIndex: true });
    expect(store.ftsBacklog()).toBe(n);
    // The writer asks for 1,000; the store takes a whole slice and says more is left.
    expect(await store.maintain(1000)).toBe(true);
    expect(store.ftsBacklog()).toBe(10);
    expect(await store.maintain(1000)).toBe(false);
    expect(store.ftsBacklog()).toBe(0);
    const hits = (await store.search({ text: 'parcel' })).entries.map((e) => e.message);
    expect(hits).toEqual(['newest parcel', 'oldest parcel']);
    // Found through the index itself (the search file), not the substring scan of the tail.
    const indexed = store
      .searchConnection()
      .db.prepare("SELECT count(*) FROM idx.fts_1 WHERE fts_1 MATCH 'parcel'")
      .pluck()
      .get() as number;
    expect(indexed).toBe(2);
    store.closeSync();
  });

  it('keeps text search right through pruning, merging and compacting the text index', async () => {
    const store = SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'));
    const DAY = 86_400_000;
    for (let b = 0; b < 20; b++) {
      await store.append(
        Array.from({ length: 500 }, (_, i) => ({
          ts: T0 - (200 - b * 10) * DAY + i,
          level: 'info' as const,
          category: i % 2 ? 'order' : 'system',
          message: `${i % 3 ? 'refund' : 'checkout'} batch ${b} item ${i}`,
          details: '{}',
          orderId: null,
          errorStack: null,
        })),
      );
    }
    const before = (await store.countByLevel({ text: 'refund', since: T0 - 85 * DAY })).counts.info;
    const r = await store.prune({
      cutoffs: { order: T0 - 365 * DAY },
      defaultCutoff: T0 - 90 * DAY,
      compactTextIndex: true,
      pauseMs: 0,
    });
    expect(r.categories.system!.deleted).toBe(11 * 250);
    expect(r.categories.order!.deleted).toBe(0);
    // The search file applied every batch, and the store forgot them.
    expect(store.db.prepare('SELECT count(*) FROM text_pending').pluck().get()).toBe(0);
    expect((await store.countByLevel({ text: 'refund', since: T0 - 85 * DAY })).counts.info).toBe(before);
    const oldSystem = await store.search({ categories: ['system'], text: 'refund', until: T0 - 91 * DAY });
    expect(oldSystem.entries).toEqual([]);
    expect(
      (await store.countByLevel({ categories: ['order'], text: 'refund', until: T0 - 91 * DAY })).counts.info,
    ).toBe(11 * 167);
    expect((await store.verifyChain()).ok).toBe(true);
    store.closeSync();
  });

  it('refuses a store written by a newer schema', () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => SqliteLogStore.open(file)).toThrow(/schema version 99/);
  });

  it('reports an unopenable path as a StorageError naming the file', () => {
    const dir = tempDir();
    const blocker = path.join(dir, 'file');
    writeFileSync(blocker, 'x');
    expect(() => SqliteLogStore.open(path.join(blocker, 'logs.sqlite'))).toThrow(
      /log store .*file\/logs\.sqlite/,
    );
  });
});
