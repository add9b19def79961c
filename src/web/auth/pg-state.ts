/**
 * Admin sessions and login throttle counters in PostgreSQL (used when the log store is
 * PostgreSQL: `logs.store.connectionString`), so several panel instances behind a load balancer
 * share logins and lockouts, and a restart resets neither. Tables are created on first use
 * (`CREATE TABLE IF NOT EXISTS`, safe when two instances start at once). An attempt locks both
 * counter rows (`SELECT … FOR UPDATE`, in key order so two attempts never deadlock) for the one
 * transaction that decides it.
 */
import pg from 'pg';
import type { SessionRecord, SessionStore } from './sessions.js';
import { decideAttempt, rowState, type CounterStore } from './shared-state.js';
import type { AttemptResult, ThrottlePolicy } from './throttle.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS safetynet_admin_sessions (
  id_hash TEXT PRIMARY KEY,
  "user" TEXT NOT NULL,
  stamp TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  flash TEXT
);
CREATE TABLE IF NOT EXISTS safetynet_login_counters (
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  locks INTEGER NOT NULL,
  locked_until BIGINT NOT NULL,
  last_failure_at BIGINT NOT NULL
);`;

/** One pool for both stores; `ready` creates the tables once. */
export class PgAuthState {
  readonly pool: pg.Pool;
  private ready?: Promise<void>;

  constructor(connectionString: string) {
    // Bounded waits: a panel request never hangs on a database that does not answer.
    this.pool = new pg.Pool({
      connectionString,
      max: 4,
      connectionTimeoutMillis: 5000,
      statement_timeout: 5000,
    });
    this.pool.on('error', () => {}); // an idle client's error is seen by the next query
  }

  init(): Promise<void> {
    this.ready ??= (async () => {
      const c = await this.pool.connect();
      try {
        // Two instances creating the tables at once: serialise on an advisory lock.
        await c.query('SELECT pg_advisory_lock(hashtext($1))', ['safetynet_admin_schema']);
        await c.query(SCHEMA);
        await c.query('SELECT pg_advisory_unlock(hashtext($1))', ['safetynet_admin_schema']);
      } finally {
        c.release();
      }
    })();
    return this.ready;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

interface SessionRow {
  id_hash: string;
  user: string;
  stamp: string;
  csrf: string;
  created_at: string;
  last_seen_at: string;
  flash: string | null;
}

export class PgSessionStore implements SessionStore {
  constructor(private readonly state: PgAuthState) {}

  private async q(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    await this.state.init();
    return this.state.pool.query(sql, params);
  }

  async insert(r: SessionRecord): Promise<void> {
    await this.q(
      'INSERT INTO safetynet_admin_sessions (id_hash, "user", stamp, csrf, created_at, last_seen_at, flash) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [r.idHash, r.user, r.stamp, r.csrfToken, r.createdAt, r.lastSeenAt, r.flash],
    );
  }

  async get(idHash: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.q('SELECT * FROM safetynet_admin_sessions WHERE id_hash = $1', [idHash]);
    const row = rows[0] as SessionRow | undefined;
    if (!row) return undefined;
    return {
      idHash: row.id_hash,
      user: row.user,
      stamp: row.stamp,
      csrfToken: row.csrf,
      createdAt: Number(row.created_at),
      lastSeenAt: Number(row.last_seen_at),
      flash: row.flash,
    };
  }

  async touch(idHash: string, at: number): Promise<void> {
    await this.q('UPDATE safetynet_admin_sessions SET last_seen_at = $1 WHERE id_hash = $2', [at, idHash]);
  }

  async setFlash(idHash: string, flash: string | null): Promise<void> {
    await this.q('UPDATE safetynet_admin_sessions SET flash = $1 WHERE id_hash = $2', [flash, idHash]);
  }

  async delete(idHash: string): Promise<void> {
    await this.q('DELETE FROM safetynet_admin_sessions WHERE id_hash = $1', [idHash]);
  }

  async purge(idleBefore: number, createdBefore: number): Promise<void> {
    await this.q('DELETE FROM safetynet_admin_sessions WHERE last_seen_at < $1 OR created_at < $2', [
      idleBefore,
      createdBefore,
    ]);
  }

  close(): void {
    // The pool belongs to PgAuthState (shared with the counters); it closes it.
  }
}

export class PgCounterStore implements CounterStore {
  constructor(private readonly state: PgAuthState) {}

  async attempt(
    account: string,
    address: string,
    now: number,
    policy: ThrottlePolicy,
  ): Promise<AttemptResult> {
    await this.state.init();
    const c = await this.state.pool.connect();
    try {
      await c.query('BEGIN');
      const keys = [account, address].sort();
      await c.query(
        'INSERT INTO safetynet_login_counters (key, failures, locks, locked_until, last_failure_at) ' +
          'SELECT k, 0, 0, 0, 0 FROM unnest($1::text[]) AS k ON CONFLICT (key) DO NOTHING',
        [keys],
      );
      const { rows } = await c.query(
        'SELECT * FROM safetynet_login_counters WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE',
        [keys],
      );
      const byKey = new Map(rows.map((r: { key: string }) => [r.key, r]));
      // A row just inserted (0 failures, never failed) is a counter that does not exist yet.
      const state = (k: string) => {
        const s = rowState(byKey.get(k) as Parameters<typeof rowState>[0]);
        return s && s.lastFailureAt === 0 && s.failures === 0 && s.locks === 0 ? undefined : s;
      };
      const d = decideAttempt(state(account), state(address), now, policy);
      for (const [key, s] of [
        [account, d.account],
        [address, d.address],
      ] as const) {
        if (!s) continue;
        await c.query(
          'UPDATE safetynet_login_counters SET failures = $2, locks = $3, locked_until = $4, last_failure_at = $5 WHERE key = $1',
          [key, s.failures, s.locks, s.lockedUntil, s.lastFailureAt],
        );
      }
      await c.query('COMMIT');
      return d.result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async clear(keys: string[]): Promise<void> {
    await this.state.init();
    await this.state.pool.query('DELETE FROM safetynet_login_counters WHERE key = ANY($1::text[])', [keys]);
  }

  async close(): Promise<void> {
    await this.state.close();
  }
}
