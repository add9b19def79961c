/**
 * Login throttle counters kept in a database, so a restart does not reset a lockout and several
 * panel instances behind a load balancer share them (with PostgreSQL). One small interface,
 * `CounterStore`, with a SQLite and a PostgreSQL implementation (pg-state.ts); both pass the
 * conformance suite in test/web/auth-state-conformance.ts. The lock rules themselves are the pure
 * functions of throttle.ts, so every store locks exactly like the in-memory LoginThrottle.
 */
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Clock } from '../../clock.js';
import type { MaybePromise } from './sessions.js';
import {
  accountKey,
  addressKey,
  applyFailure,
  failureOutcome,
  liveState,
  throttlePolicy,
  type AttemptResult,
  type KeyState,
  type Throttle,
  type ThrottleOptions,
  type ThrottlePolicy,
} from './throttle.js';

/** Throttle counters in a database; `attempt` is atomic across every process using the store. */
export interface CounterStore {
  /** Refuse when either key is locked, else count a failure on both (one transaction). */
  attempt(account: string, address: string, now: number, policy: ThrottlePolicy): MaybePromise<AttemptResult>;
  /** Forgets the counters (a successful login). */
  clear(keys: string[]): MaybePromise<void>;
  close(): MaybePromise<void>;
}

/** What one attempt does to two counters: the result, and the states to store when admitted. */
export function decideAttempt(
  prevAccount: KeyState | undefined,
  prevAddress: KeyState | undefined,
  now: number,
  policy: ThrottlePolicy,
): { result: AttemptResult; account?: KeyState; address?: KeyState } {
  const acc = liveState(prevAccount, now, policy.forgetMs);
  const addr = liveState(prevAddress, now, policy.forgetMs);
  if (acc && acc.lockedUntil > now) return { result: { lock: { scope: 'account', until: acc.lockedUntil } } };
  if (addr && addr.lockedUntil > now)
    return { result: { lock: { scope: 'address', until: addr.lockedUntil } } };
  const a = applyFailure(acc, now, policy.accountThreshold, policy);
  const b = applyFailure(addr, now, policy.addressThreshold, policy);
  return { result: { outcome: failureOutcome(a, b, policy) }, account: a.state, address: b.state };
}

/** The Throttle the login route uses, over any CounterStore. */
export class StoredThrottle implements Throttle {
  readonly options: Readonly<ThrottlePolicy>;

  constructor(
    private readonly store: CounterStore,
    private readonly clock: Clock,
    options: ThrottleOptions = {},
  ) {
    this.options = throttlePolicy(options);
  }

  attempt(account: string, address: string): MaybePromise<AttemptResult> {
    return this.store.attempt(accountKey(account), addressKey(address), this.clock.now(), this.options);
  }

  recordSuccess(account: string, address: string): MaybePromise<void> {
    return this.store.clear([accountKey(account), addressKey(address)]);
  }

  close(): MaybePromise<void> {
    return this.store.close();
  }
}

interface CounterRow {
  key: string;
  failures: number;
  locks: number;
  locked_until: number;
  last_failure_at: number;
}

export function rowState(r: CounterRow | undefined): KeyState | undefined {
  return r
    ? {
        failures: r.failures,
        locks: r.locks,
        lockedUntil: Number(r.locked_until),
        lastFailureAt: Number(r.last_failure_at),
      }
    : undefined;
}

/** Counters in the SQLite file of the sessions (admin-sessions.sqlite, mode 0600). */
export class SqliteCounterStore implements CounterStore {
  private readonly db: Database.Database;
  private readonly tx: (
    account: string,
    address: string,
    now: number,
    policy: ThrottlePolicy,
  ) => AttemptResult;
  private readonly del: Database.Statement;

  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file, { timeout: 2000 });
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS login_counters (
      key TEXT PRIMARY KEY,
      failures INTEGER NOT NULL,
      locks INTEGER NOT NULL,
      locked_until INTEGER NOT NULL,
      last_failure_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
    try {
      chmodSync(file, 0o600);
    } catch {
      // not ours to change (a file created by another user): the sessions store says the same
    }
    const get = this.db.prepare('SELECT * FROM login_counters WHERE key = ?');
    const put = this.db.prepare(
      'INSERT INTO login_counters (key, failures, locks, locked_until, last_failure_at) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locks = excluded.locks, ' +
        'locked_until = excluded.locked_until, last_failure_at = excluded.last_failure_at',
    );
    this.del = this.db.prepare('DELETE FROM login_counters WHERE key = ?');
    // IMMEDIATE: the write lock is taken before reading, so two processes cannot both read "4 failures".
    const run = this.db.transaction(
      (account: string, address: string, now: number, policy: ThrottlePolicy) => {
        const d = decideAttempt(
          rowState(get.get(account) as CounterRow | undefined),
          rowState(get.get(address) as CounterRow | undefined),
          now,
          policy,
        );
        for (const [key, s] of [
          [account, d.account],
          [address, d.address],
        ] as const)
          if (s) put.run(key, s.failures, s.locks, s.lockedUntil, s.lastFailureAt);
        return d.result;
      },
    );
    this.tx = (a, b, n, p) => run.immediate(a, b, n, p);
  }

  attempt(account: string, address: string, now: number, policy: ThrottlePolicy): AttemptResult {
    return this.tx(account, address, now, policy);
  }

  clear(keys: string[]): void {
    for (const k of keys) this.del.run(k);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
