/**
 * Repository locks, stored as objects so they work on any storage (S3 has no atomic create on
 * every server). Protocol, as restic's: write our lock record, then list all locks; if another
 * live lock conflicts, remove ours and refuse. Two racing processes both see each other and both
 * back off — safe, never both proceed. Exclusive locks (backup, prune) conflict with every lock;
 * shared locks (restore, verify, restore test) conflict only with exclusive ones.
 *
 * A lock is a lease. Its holder rewrites the record every `refreshMs`; a record not refreshed
 * for `leaseMs` has expired and any process may remove it. The holder keeps its side of that
 * bargain: when it could not refresh for half the lease it gives the lock up (`lost` aborts), so
 * it never works on after someone else may have taken over. On this host a dead holder is seen at
 * once: the record carries a random per-process token, the boot id and the process start time,
 * so "same host, pid 1 alive" after a container restart is recognised as a different process.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LockError } from '../../errors.js';
import type { Storage } from '../storage/types.js';
import { LOCK_PREFIX, INSTANCE_PREFIX, lockKey } from './layout.js';
import type { Clock } from '../../clock.js';
import { bootId, processExists, processStartTicks, processToken } from '../../util/process-identity.js';

/** How often a held lock's record is rewritten. */
export const LOCK_REFRESH_MS = 60_000;
/** A record not refreshed for this long has expired and may be removed by anyone. */
export const LOCK_LEASE_MS = 10 * 60_000;
/** @deprecated the lease; kept for callers that printed it. */
export const STALE_AFTER_MS = LOCK_LEASE_MS;

export interface LockRecord {
  id: string;
  host: string;
  pid: number;
  purpose: string;
  exclusive: boolean;
  createdAt: string;
  refreshedAt: string;
  /** Random per process (see util/process-identity.ts). Absent in records of older versions. */
  token?: string;
  /** Kernel boot id of the holder's host (Linux). */
  bootId?: string;
  /** The holder's start time in clock ticks since boot (Linux). */
  startTicks?: string;
  /** How long the record stays valid after `refreshedAt`. */
  leaseMs?: number;
}

/** Why a lock may be removed, or 'live'. */
export type Staleness = 'live' | 'dead-local-process' | 'expired';

export interface HeldLock {
  readonly record: LockRecord;
  /** Aborts when the lease could not be kept (refresh failing): the work under it must stop. */
  readonly lost: AbortSignal;
  /** Throws LockError E_LOCK_LOST when the lock is lost or its lease could not be renewed in time. */
  assertHeld(): void;
  /** Waits for a refresh in flight, then removes the lock; safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  purpose: string;
  exclusive: boolean;
  clock: Clock;
  /** Called when a stale lock (dead local process, or expired lease) was removed (callers log it). */
  onStaleRemoved?: (lock: LockRecord, why: Staleness) => void;
  /** Folder of the lock records (default locks/; `serve` keeps its instance lock apart in instance/). */
  prefix?: string;
  /** Override the refresh period and the lease (tests). */
  refreshMs?: number;
  leaseMs?: number;
}

/** Takes a lock on the repository or throws LockError naming the holder. */
export async function acquireLock(storage: Storage, opts: LockOptions): Promise<HeldLock> {
  const now = opts.clock.now();
  const refreshMs = opts.refreshMs ?? LOCK_REFRESH_MS;
  const leaseMs = opts.leaseMs ?? LOCK_LEASE_MS;
  const record: LockRecord = {
    id: `${new Date(now).toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`,
    host: hostname(),
    pid: process.pid,
    purpose: opts.purpose,
    exclusive: opts.exclusive,
    createdAt: new Date(now).toISOString(),
    refreshedAt: new Date(now).toISOString(),
    token: processToken(),
    ...optional('bootId', bootId()),
    ...optional('startTicks', processStartTicks()),
    leaseMs,
  };
  const prefix = opts.prefix ?? LOCK_PREFIX;
  const key = prefix === LOCK_PREFIX ? lockKey(record.id) : `${prefix}${record.id}.json`;
  await storage.put(key, encode(record));
  try {
    await checkOthers(storage, prefix, record, opts);
  } catch (err) {
    await storage.delete(key).catch(() => {});
    throw err;
  }
  return new LeasedLock(storage, key, record, opts.clock, refreshMs, leaseMs);
}

async function checkOthers(
  storage: Storage,
  prefix: string,
  record: LockRecord,
  opts: LockOptions,
): Promise<void> {
  const others = (await listLocks(storage, prefix)).filter((l) => l.record.id !== record.id);
  for (const other of others) {
    const conflicts = opts.exclusive || other.record.exclusive;
    if (!conflicts) continue;
    const stale = staleness(other.record, opts.clock.now(), other.lastModified);
    if (stale !== 'live') {
      await storage.delete(other.key);
      opts.onStaleRemoved?.(other.record, stale);
      continue;
    }
    throw new LockError('E_LOCKED', `the repository is locked: ${describeLock(other.record)}`, {
      hint: `wait for that run to finish and try again; a lock whose process is gone expires by itself ${Math.round((other.record.leaseMs ?? LOCK_LEASE_MS) / 60_000)} min after its last refresh, or \`safetynet unlock --all\` removes it at once`,
      details: { lock: other.record },
    });
  }
}

/** A held lock whose record is refreshed on a timer until release. */
class LeasedLock implements HeldLock {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private refreshing: Promise<void> | undefined;
  private released = false;
  private lastOk: number;
  /** The same moment on the monotonic clock: a wall clock set back must not hide a lapsed lease. */
  private lastOkMono = performance.now();

  constructor(
    private readonly storage: Storage,
    private readonly key: string,
    readonly record: LockRecord,
    private readonly clock: Clock,
    refreshMs: number,
    private readonly leaseMs: number,
  ) {
    this.lastOk = clock.now();
    // Refresh so other machines can tell a long backup from a dead one.
    this.timer = setInterval(() => this.tick(), refreshMs);
    this.timer.unref();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  assertHeld(): void {
    this.checkDeadline();
    if (this.controller.signal.aborted) throw this.controller.signal.reason as LockError;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    // An in-flight refresh landing after the delete would bring the released lock back.
    await this.refreshing;
    await this.storage.delete(this.key);
  }

  private tick(): void {
    if (this.released || this.refreshing || this.controller.signal.aborted) return;
    if (this.checkDeadline()) return;
    const at = this.clock.now();
    this.record.refreshedAt = new Date(at).toISOString();
    this.refreshing = this.storage
      .put(this.key, encode(this.record))
      .then(
        () => {
          this.lastOk = at;
          this.lastOkMono = performance.now();
        },
        () => {
          this.checkDeadline(); // failing: the next tick tries again until half the lease is gone
        },
      )
      .finally(() => {
        this.refreshing = undefined;
      });
  }

  /** Gives the lock up once half the lease passed without a refresh. True when lost. */
  private checkDeadline(): boolean {
    if (this.controller.signal.aborted) return true;
    // Lost when either clock says half the lease passed: the wall clock (the one others judge the
    // record by) or the monotonic one (immune to the wall clock being set back).
    const elapsed = Math.max(this.clock.now() - this.lastOk, performance.now() - this.lastOkMono);
    if (elapsed <= this.leaseMs / 2) return false;
    clearInterval(this.timer);
    this.controller.abort(
      new LockError(
        'E_LOCK_LOST',
        `lost the repository lock for "${this.record.purpose}": it could not be refreshed for ${Math.round(elapsed / 1000)} s`,
        {
          hint: 'the repository storage is unreachable or refuses writes; the run was stopped so it cannot overlap another one. Check the storage and run it again',
          details: { lock: this.record },
        },
      ),
    );
    return true;
  }
}

/** A listed lock record, with the storage's own modification time of the record. */
export interface ListedLock {
  key: string;
  record: LockRecord;
  lastModified?: number;
}

/** Every lock record under `prefix` (unreadable records are reported as such, never ignored). */
export async function listLocks(storage: Storage, prefix: string = LOCK_PREFIX): Promise<ListedLock[]> {
  const out: ListedLock[] = [];
  for await (const obj of storage.list(prefix)) {
    let record: LockRecord;
    try {
      record = JSON.parse((await storage.get(obj.key)).toString('utf8')) as LockRecord;
    } catch (err) {
      if ((err as { code?: string }).code === 'E_OBJECT_MISSING') continue; // released meanwhile
      record = {
        id: obj.key,
        host: '?',
        pid: 0,
        purpose: 'unreadable lock record',
        exclusive: true,
        createdAt: new Date(obj.lastModified ?? 0).toISOString(),
        refreshedAt: new Date(obj.lastModified ?? 0).toISOString(),
      };
    }
    out.push({ key: obj.key, record, ...optional('lastModified', obj.lastModified) });
  }
  return out;
}

/** Every lock of every kind: job locks (locks/) and the serve instance lock (instance/). */
export async function listAllLocks(storage: Storage): Promise<ListedLock[]> {
  return [...(await listLocks(storage, LOCK_PREFIX)), ...(await listLocks(storage, INSTANCE_PREFIX))];
}

/** Removes locks of every kind: all of them, or only stale ones. Returns what was removed. */
export async function removeLocks(
  storage: Storage,
  opts: { all: boolean; clock: Clock },
): Promise<LockRecord[]> {
  const removed: LockRecord[] = [];
  for (const l of await listAllLocks(storage)) {
    if (opts.all || staleness(l.record, opts.clock.now(), l.lastModified) !== 'live') {
      await storage.delete(l.key);
      removed.push(l.record);
    }
  }
  return removed;
}

/**
 * Whether a lock is live, held by a process that is gone from this host, or past its lease.
 * `lastModified` (the storage's time of the record) counts as a refresh too, so a holder whose
 * clock runs behind is not judged expired early.
 */
export function staleness(lock: LockRecord, now: number, lastModified?: number): Staleness {
  if (lock.host === hostname() && !localHolderAlive(lock)) return 'dead-local-process';
  const refreshed = Math.max(Date.parse(lock.refreshedAt) || 0, lastModified ?? 0);
  const lease = typeof lock.leaseMs === 'number' && lock.leaseMs > 0 ? lock.leaseMs : LOCK_LEASE_MS;
  if (refreshed > 0 && now - refreshed > lease) return 'expired';
  return 'live';
}

/** Whether the process that wrote a record on this host still runs. */
function localHolderAlive(lock: LockRecord): boolean {
  if (!(lock.pid > 0)) return true; // unreadable record: only the lease can free it
  if (lock.pid === process.pid) {
    // Our own pid: it is us only if the token matches (a container restarted as pid 1 again).
    return lock.token === undefined || lock.token === processToken();
  }
  const boot = bootId();
  if (lock.bootId && boot && lock.bootId !== boot) return false; // the host rebooted since
  if (!processExists(lock.pid)) return false;
  const started = processStartTicks(lock.pid);
  if (lock.startTicks && started && lock.startTicks !== started) return false; // pid reused
  return true;
}

export function describeLock(l: LockRecord): string {
  return `${l.exclusive ? 'exclusive' : 'shared'} lock for "${l.purpose}" held by pid ${l.pid} on ${l.host} since ${l.createdAt} (refreshed ${l.refreshedAt})`;
}

function encode(record: LockRecord): Buffer {
  return Buffer.from(JSON.stringify(record, null, 2));
}

function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}
