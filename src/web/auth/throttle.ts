/**
 * Login throttling: failed attempts are counted per account name (whether or not it exists, so a
 * lock reveals nothing) and per client address. Reaching the threshold locks that key; each
 * further lock doubles, up to a ceiling. Counters are forgotten after a quiet period.
 *
 * The account threshold is low (a person mistypes a few times; a guesser needs thousands). The
 * address threshold is higher because several people may share an address, and it is what stops
 * one client from trying a little on many accounts. Time comes from the injected Clock.
 *
 * LoginThrottle keeps its counters in memory (tests, embedded use); the panel normally uses
 * StoredThrottle over a database (shared-state.ts, pg-state.ts), which survives restarts and is
 * shared by several panel instances. Both apply the same pure rules below.
 */
import type { Clock } from '../../clock.js';

export interface ThrottleOptions {
  /** Failures on one account before it is locked (default 5). */
  accountThreshold?: number;
  /** Failures from one address before it is locked (default 20). */
  addressThreshold?: number;
  /** First lock duration, ms (default 15 min); each further lock doubles it. */
  lockMs?: number;
  /** Longest lock, ms (default 24 h). */
  maxLockMs?: number;
  /** A key with no failure for this long is forgotten, ms (default 24 h). */
  forgetMs?: number;
  /** Keys kept at most (oldest forgotten first), so a flood of names cannot exhaust memory. */
  maxKeys?: number;
}

export interface KeyState {
  failures: number;
  locks: number;
  lockedUntil: number;
  lastFailureAt: number;
}

/** What the lock rules need (LoginThrottle's resolved options). */
export type ThrottlePolicy = Required<ThrottleOptions>;

/** The result of an attempt: refused by a lock, or admitted with its failure already counted. */
export type AttemptResult = { lock: LockInfo } | { lock?: undefined; outcome: FailureOutcome };

/**
 * The throttle the login route uses. `attempt` is one atomic step — refuse when locked, else count
 * the attempt as a failure before its password is checked — so parallel attempts (also from several
 * panel instances sharing a store) can never pass the threshold; a success then clears the counters.
 */
export interface Throttle {
  readonly options: Readonly<ThrottlePolicy>;
  attempt(account: string, address: string): AttemptResult | Promise<AttemptResult>;
  recordSuccess(account: string, address: string): void | Promise<void>;
  close?(): void | Promise<void>;
}

/** A stored counter after `now`: undefined once it was quiet for `forgetMs` and is not locked. */
export function liveState(s: KeyState | undefined, now: number, forgetMs: number): KeyState | undefined {
  if (s && s.lockedUntil <= now && now - s.lastFailureAt >= forgetMs) return undefined;
  return s;
}

/** One more failure on a counter: the new state, and whether it locked the key now. */
export function applyFailure(
  prev: KeyState | undefined,
  now: number,
  threshold: number,
  policy: Pick<ThrottlePolicy, 'lockMs' | 'maxLockMs'>,
): { state: KeyState; locked: boolean } {
  const s = prev ? { ...prev } : { failures: 0, locks: 0, lockedUntil: 0, lastFailureAt: now };
  s.failures++;
  s.lastFailureAt = now;
  let locked = false;
  if (s.failures >= threshold) {
    s.locks++;
    s.failures = 0;
    s.lockedUntil = now + Math.min(policy.lockMs * 2 ** (s.locks - 1), policy.maxLockMs);
    locked = true;
  }
  return { state: s, locked };
}

/** The outcome an admitted attempt reports, from the two counters' new states. */
export function failureOutcome(
  acc: { state: KeyState; locked: boolean },
  addr: { state: KeyState; locked: boolean },
  policy: ThrottlePolicy,
): FailureOutcome {
  const out: FailureOutcome = { accountFailures: acc.state.failures, addressFailures: addr.state.failures };
  if (acc.locked)
    out.accountLocked = { scope: 'account', until: acc.state.lockedUntil, lockNumber: acc.state.locks };
  if (addr.locked)
    out.addressLocked = {
      scope: 'address',
      until: addr.state.lockedUntil,
      lockNumber: addr.state.locks,
      failures: policy.addressThreshold,
    };
  return out;
}

/** Resolves throttle options to the policy with its defaults. */
export function throttlePolicy(options: ThrottleOptions = {}): ThrottlePolicy {
  return {
    accountThreshold: options.accountThreshold ?? 5,
    addressThreshold: options.addressThreshold ?? 20,
    lockMs: options.lockMs ?? 15 * 60_000,
    maxLockMs: options.maxLockMs ?? 24 * 3_600_000,
    forgetMs: options.forgetMs ?? 24 * 3_600_000,
    maxKeys: options.maxKeys ?? 10_000,
  };
}

export type Scope = 'account' | 'address';

export interface LockInfo {
  scope: Scope;
  /** ms since the epoch. */
  until: number;
}

export interface FailureOutcome {
  /** Set when this failure locked the account. */
  accountLocked?: LockInfo & { lockNumber: number };
  /** Set when this failure locked the address. */
  addressLocked?: LockInfo & { lockNumber: number; failures: number };
  accountFailures: number;
  addressFailures: number;
}

export class LoginThrottle implements Throttle {
  private readonly o: Required<ThrottleOptions>;
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly clock: Clock,
    options: ThrottleOptions = {},
  ) {
    this.o = throttlePolicy(options);
  }

  /** Refused when locked; otherwise the attempt is counted as a failure now (see Throttle). */
  attempt(account: string, address: string): AttemptResult {
    const lock = this.check(account, address);
    return lock ? { lock } : { outcome: this.recordFailure(account, address) };
  }

  get options(): Readonly<Required<ThrottleOptions>> {
    return this.o;
  }

  /** The lock that applies to this attempt, if any (the account's first). */
  check(account: string, address: string): LockInfo | undefined {
    const now = this.clock.now();
    for (const [scope, key] of [
      ['account', accountKey(account)],
      ['address', addressKey(address)],
    ] as const) {
      const s = this.state(key, now);
      if (s && s.lockedUntil > now) return { scope, until: s.lockedUntil };
    }
    return undefined;
  }

  /** Counts a failed attempt; says whether it caused a lock. */
  recordFailure(account: string, address: string): FailureOutcome {
    const now = this.clock.now();
    const acc = this.bump(accountKey(account), now, this.o.accountThreshold);
    const addr = this.bump(addressKey(address), now, this.o.addressThreshold);
    return failureOutcome(acc, addr, this.o);
  }

  /** A successful login clears the account's and the address's counters. */
  recordSuccess(account: string, address: string): void {
    this.keys.delete(accountKey(account));
    this.keys.delete(addressKey(address));
  }

  private state(key: string, now: number): KeyState | undefined {
    const s = liveState(this.keys.get(key), now, this.o.forgetMs);
    if (!s) this.keys.delete(key);
    return s;
  }

  private bump(key: string, now: number, threshold: number): { state: KeyState; locked: boolean } {
    const { state: s, locked } = applyFailure(this.state(key, now), now, threshold, this.o);
    // Re-insert so the map's order is least-recently-failed first; trim the oldest.
    this.keys.delete(key);
    this.keys.set(key, s);
    while (this.keys.size > this.o.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    return { state: s, locked };
  }
}

export function accountKey(name: string): string {
  return 'u:' + name.trim().toLowerCase().slice(0, 128);
}

export function addressKey(address: string): string {
  return 'a:' + address;
}
