/**
 * ThreadedLogStore: the store contract through reader threads (the conformance suite, unchanged,
 * over SQLite), and reads that never block the caller's event loop and always end in bounded time
 * (a PostgreSQL read stuck behind a table lock times out; the next read works).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import { ThreadedLogStore } from '../../src/log/store/threaded.js';
import type { LogStore } from '../../src/log/store/types.js';
import { freshDatabase } from '../helpers/pg.js';
import { tempDir } from '../helpers/tmp.js';
import { runLogStoreConformance, type StoreHarness } from './store-conformance.js';

const files = new WeakMap<LogStore, string>();

function withDb(store: LogStore, fn: (db: Database.Database) => void): void {
  const db = new Database(files.get(store)!);
  try {
    fn(db);
  } finally {
    db.close();
  }
}

const tamper: StoreHarness['tamper'] = {
  async setMessage(store, id, message) {
    withDb(store, (db) => db.prepare('UPDATE logs SET message = ? WHERE id = ?').run(message, Number(id)));
  },
  async deleteEntry(store, id) {
    withDb(store, (db) => db.prepare('DELETE FROM logs WHERE id = ?').run(Number(id)));
  },
  async swapIds(store, a, b) {
    withDb(store, (db) =>
      db.transaction(() => {
        db.prepare('UPDATE logs SET id = -1 WHERE id = ?').run(Number(a));
        db.prepare('UPDATE logs SET id = ? WHERE id = ?').run(Number(a), Number(b));
        db.prepare('UPDATE logs SET id = ? WHERE id = -1').run(Number(b));
      })(),
    );
  },
};

function threaded(file: string): ThreadedLogStore {
  const s = new ThreadedLogStore({ type: 'sqlite', path: file });
  files.set(s, file);
  return s;
}

runLogStoreConformance({
  name: 'sqlite through reader threads',
  async create() {
    return threaded(path.join(tempDir(), 'logs.sqlite'));
  },
  async reopen(store) {
    return threaded(files.get(store)!);
  },
  tamper,
});

describe('reads off the event loop', () => {
  it('a read stuck behind a lock times out in bounded time while the event loop keeps running', async () => {
    const url = await freshDatabase();
    const direct = new PostgresLogStore({ connectionString: url });
    await direct.append([
      {
        ts: Date.now(),
        level: 'info',
        category: 'order',
        message: 'x',
        details: '{}',
        orderId: null,
        errorStack: null,
      },
    ]);
    const store = new ThreadedLogStore(
      { type: 'postgres', path: '', connectionString: url },
      { timeoutMs: 1500 },
    );
    expect((await store.search({})).entries.length).toBe(1);
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE safetynet_log.logs IN ACCESS EXCLUSIVE MODE');
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const t0 = performance.now();
    await expect(store.countByLevel({ text: 'x' })).rejects.toMatchObject({ code: 'E_LOG_READ_TIMEOUT' });
    const took = performance.now() - t0;
    clearInterval(timer);
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(5000);
    expect(ticks).toBeGreaterThan(50);
    expect(maxGap).toBeLessThan(500);
    await locker.query('ROLLBACK');
    await locker.end();
    // The stuck thread was replaced: the next read answers.
    expect((await store.countByLevel({})).counts.info).toBe(1);
    await store.close();
    await direct.close();
  });
});
