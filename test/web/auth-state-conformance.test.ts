/**
 * One conformance suite for the panel's session and throttle-counter stores, run against SQLite
 * and a real PostgreSQL 15 (127.0.0.1:5432, a random database of this file, dropped afterwards):
 * the same sessions behaviour, the same lock rules, lockouts that survive a restart, and attempts
 * from two "panel instances" at once that never pass the threshold together.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { MemorySessionStore, SqliteSessionStore, type SessionStore } from '../../src/web/auth/sessions.js';
import { SqliteCounterStore, StoredThrottle, type CounterStore } from '../../src/web/auth/shared-state.js';
import { PgAuthState, PgCounterStore, PgSessionStore } from '../../src/web/auth/pg-state.js';
import { LoginThrottle, type Throttle } from '../../src/web/auth/throttle.js';
import { tempDir } from '../helpers/tmp.js';

const ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = `sn_auth_${randomBytes(4).toString('hex')}`;
const URL = `postgres://postgres@127.0.0.1:5432/${DB}`;

beforeAll(async () => {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  await c.query(`CREATE DATABASE ${DB}`);
  await c.end();
});
afterAll(async () => {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await c.end();
});

interface Backend {
  name: string;
  /** A fresh, empty pair (a new file / new tables' rows cleared). */
  open(): Promise<{
    sessions: SessionStore;
    counters: CounterStore;
    reopen(): { sessions: SessionStore; counters: CounterStore };
    close(): Promise<void>;
  }>;
}

const sqlite: Backend = {
  name: 'sqlite',
  async open() {
    const file = path.join(tempDir(), 'admin-sessions.sqlite');
    const made: { close(): unknown }[] = [];
    const pair = () => {
      const p = { sessions: new SqliteSessionStore(file), counters: new SqliteCounterStore(file) };
      made.push(p.sessions, p.counters);
      return p;
    };
    return { ...pair(), reopen: pair, close: async () => void made.forEach((m) => m.close()) };
  },
};

const postgres: Backend = {
  name: 'postgres',
  async open() {
    const states: PgAuthState[] = [];
    const pair = () => {
      const s = new PgAuthState(URL);
      states.push(s);
      return { sessions: new PgSessionStore(s), counters: new PgCounterStore(s) };
    };
    const first = pair();
    await states[0]!.init();
    await states[0]!.pool.query('TRUNCATE safetynet_admin_sessions, safetynet_login_counters');
    return {
      ...first,
      reopen: pair,
      close: async () => void (await Promise.all(states.map((s) => s.close()))),
    };
  },
};

const record = (id: string, now: number) => ({
  idHash: id,
  user: 'alice',
  stamp: 's1',
  csrfToken: 't'.repeat(43),
  createdAt: now,
  lastSeenAt: now,
  flash: null,
});

for (const b of [sqlite, postgres]) {
  describe(`admin state conformance: ${b.name}`, () => {
    it('sessions: insert, get, touch, flash, delete, purge; kept across a restart', async () => {
      const s = await b.open();
      try {
        await s.sessions.insert(record('a', 1000));
        await s.sessions.insert(record('b', 5000));
        expect(await s.sessions.get('a')).toEqual(record('a', 1000));
        await s.sessions.touch('a', 2000);
        await s.sessions.setFlash('a', 'Backup requested');
        expect(await s.sessions.get('a')).toMatchObject({ lastSeenAt: 2000, flash: 'Backup requested' });
        const again = s.reopen(); // another instance, or the same after a restart
        expect(await again.sessions.get('a')).toMatchObject({ user: 'alice', lastSeenAt: 2000 });
        await s.sessions.purge(3000, 0);
        expect(await again.sessions.get('a')).toBeUndefined();
        expect(await again.sessions.get('b')).toBeDefined();
        await again.sessions.delete('b');
        expect(await s.sessions.get('b')).toBeUndefined();
      } finally {
        await s.close();
      }
    });

    it('counters lock like the in-memory throttle, and a restart keeps the lockout', async () => {
      const s = await b.open();
      try {
        const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
        const stored: Throttle = new StoredThrottle(s.counters, clock);
        const memory = new LoginThrottle(clock);
        for (let i = 1; i <= 5; i++) {
          const [x, y] = [
            await stored.attempt('alice', `10.0.0.${i}`),
            memory.attempt('alice', `10.0.0.${i}`),
          ];
          expect(x).toEqual(y);
        }
        expect(await stored.attempt('alice', '10.9.9.9')).toEqual({
          lock: { scope: 'account', until: clock.now() + 15 * 60_000 },
        });
        // A restart (a new store on the same database) still refuses.
        const after = new StoredThrottle(s.reopen().counters, clock);
        expect((await after.attempt('ALICE ', '10.9.9.9')).lock).toMatchObject({ scope: 'account' });
        clock.advance(15 * 60_000);
        const admitted = await after.attempt('alice', '10.9.9.9');
        expect(admitted.lock).toBeUndefined();
        await after.recordSuccess('alice', '10.9.9.9');
        expect((await stored.attempt('alice', '10.9.9.9')).lock).toBeUndefined();
      } finally {
        await s.close();
      }
    });

    it('two instances attempting at once never admit more than the threshold', async () => {
      const s = await b.open();
      try {
        const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
        const one = new StoredThrottle(s.counters, clock);
        const two = new StoredThrottle(s.reopen().counters, clock);
        const results = await Promise.all(
          Array.from({ length: 24 }, (_, i) => (i % 2 ? one : two).attempt('bob', `198.51.100.${i}`)),
        );
        expect(results.filter((r) => r.lock === undefined)).toHaveLength(5);
        expect(results.filter((r) => r.lock?.scope === 'account')).toHaveLength(19);
      } finally {
        await s.close();
      }
    });
  });
}

describe('memory sessions keep the same contract', () => {
  it('insert/get/delete', async () => {
    const m = new MemorySessionStore();
    await m.insert(record('a', 1));
    expect(await m.get('a')).toEqual(record('a', 1));
    await m.delete('a');
    expect(await m.get('a')).toBeUndefined();
  });
});

describe('the panel picks its store from the config', () => {
  it('PostgreSQL when the log store is PostgreSQL, else SQLite next to the users file', async () => {
    const { resolveConfig } = await import('../../src/config/index.js');
    const { openAdminState } = await import('../../src/web/auth/state.js');
    const dir = tempDir();
    const clock = new ManualClock();
    const pgCfg = resolveConfig(
      { logs: { store: { type: 'postgres', connectionString: URL } } },
      { file: null, baseDir: dir, env: {} },
    );
    const a = openAdminState(pgCfg, clock);
    const b = openAdminState(pgCfg, clock); // a second panel instance
    try {
      expect(a.sessions).toBeInstanceOf(PgSessionStore);
      for (let i = 0; i < 5; i++) await a.throttle.attempt('carol', `192.0.2.${i}`);
      expect((await b.throttle.attempt('carol', '192.0.2.99')).lock).toMatchObject({ scope: 'account' });
    } finally {
      await a.close();
      await b.close();
    }
    const local = openAdminState(resolveConfig({}, { file: null, baseDir: dir, env: {} }), clock);
    expect(local.sessions).toBeInstanceOf(SqliteSessionStore);
    await local.close();
  });
});
