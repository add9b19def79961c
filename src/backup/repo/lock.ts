/**
 * Repository locks, stored as objects so they work on any storage (S3 has no atomic create on
 * every server). Protocol, as restic's: write our lock record, then list all locks; if another
 * live lock conflicts, remove ours and refuse. Two racing processes both see each other and both
 * back off — safe, never both proceed. Exclusive locks (backup, prune) conflict with every lock;
 * shared locks (restore, verify, restore test) conflict only with exclusive ones.
 *
 * Long runs refresh their record; a lock not refreshed for STALE_AFTER_MS, or held by a process
 * that no longer exists on this same host, is stale. A stale lock from a dead process on this host
 * is removed and reported; any other stale lock is reported and left for `safetynet unlock`.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LockError } from '../../errors.js';
import type { Storage } from '../storage/types.js';
import { LOCK_PREFIX, lockKey } from './layout.js';
import type { Clock } from '../../clock.js';

export const LOCK_REFRESH_MS = 5 * 60_000;
export const STALE_AFTER_MS = 30 * 60_000;

export interface LockRecord {
  id: string;
  host: string;
  pid: number;
  purpose: string;
  exclusive: boolean;
  createdAt: string;
  refreshedAt: string;
}

export interface HeldLock {
  readonly record: LockRecord;
  /** Removes the lock; safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  purpose: string;
  exclusive: boolean;
  clock: Clock;
  /** Called when a stale lock of a dead local process was removed (callers log it). */
  onStaleRemoved?: (lock: LockRecord) => void;
  /** Folder of the lock records (default locks/; `serve` keeps its instance lock apart in instance/). */
  prefix?: string;
}

/** Takes a lock on the repository or throws LockError naming the holder. */
export async function acquireLock(storage: Storage, opts: LockOptions): Promise<HeldLock> {
  const now = opts.clock.now();
  const record: LockRecord = {
    id: `${new Date(now).toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`,
    host: hostname(),
    pid: process.pid,
    purpose: opts.purpose,
    exclusive: opts.exclusive,
    createdAt: new Date(now).toISOString(),
    refreshedAt: new Date(now).toISOString(),
  };
  const prefix = opts.prefix ?? LOCK_PREFIX;
  const key = prefix === LOCK_PREFIX ? lockKey(record.id) : `${prefix}${record.id}.json`;
  await storage.put(key, Buffer.from(JSON.stringify(record, null, 2)));
  try {
    const others = (await listLocks(storage, prefix)).filter((l) => l.record.id !== record.id);
    for (const other of others) {
      const conflicts = opts.exclusive || other.record.exclusive;
      if (!conflicts) continue;
      const stale = staleness(other.record, opts.clock.now());
      if (stale === 'dead-local-process') {
        await storage.delete(other.key);
        opts.onStaleRemoved?.(other.record);
        continue;
      }
      const held = describeLock(other.record);
      if (stale === 'not-refreshed') {
        throw new LockError('E_LOCK_STALE', `the repository is locked by a stale lock: ${held}`, {
          hint: `it has not been refreshed for over ${STALE_AFTER_MS / 60_000} min; if no safetynet process is running on ${other.record.host}, remove it with \`safetynet unlock\``,
          details: { lock: other.record },
        });
      }
      throw new LockError('E_LOCKED', `the repository is locked: ${held}`, {
        hint: 'wait for that run to finish and try again; `safetynet unlock` removes a lock whose process is gone',
        details: { lock: other.record },
      });
    }
  } catch (err) {
    await storage.delete(key).catch(() => {});
    throw err;
  }

  let released = false;
  // Refresh so other machines can tell a long backup from a dead one.
  const timer = setInterval(() => {
    record.refreshedAt = new Date(opts.clock.now()).toISOString();
    storage.put(key, Buffer.from(JSON.stringify(record, null, 2))).catch(() => {});
  }, LOCK_REFRESH_MS);
  timer.unref();
  return {
    record,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await storage.delete(key);
    },
  };
}

/** Every lock record in the repository (unreadable records are reported as such, never ignored). */
export async function listLocks(
  storage: Storage,
  prefix: string = LOCK_PREFIX,
): Promise<{ key: string; record: LockRecord }[]> {
  const out: { key: string; record: LockRecord }[] = [];
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
    out.push({ key: obj.key, record });
  }
  return out;
}

/** Removes locks: all of them, or only stale ones. Returns what was removed. */
export async function removeLocks(
  storage: Storage,
  opts: { all: boolean; clock: Clock },
): Promise<LockRecord[]> {
  const removed: LockRecord[] = [];
  for (const l of await listLocks(storage)) {
    if (opts.all || staleness(l.record, opts.clock.now()) !== 'live') {
      await storage.delete(l.key);
      removed.push(l.record);
    }
  }
  return removed;
}

/** Whether a lock is live, held by a process that is gone from this host, or no longer refreshed. */
export function staleness(lock: LockRecord, now: number): 'live' | 'dead-local-process' | 'not-refreshed' {
  if (lock.host === hostname() && lock.pid > 0 && !processExists(lock.pid)) return 'dead-local-process';
  const refreshed = Date.parse(lock.refreshedAt);
  if (!Number.isNaN(refreshed) && now - refreshed > STALE_AFTER_MS) return 'not-refreshed';
  return 'live';
}

export function describeLock(l: LockRecord): string {
  return `${l.exclusive ? 'exclusive' : 'shared'} lock for "${l.purpose}" held by pid ${l.pid} on ${l.host} since ${l.createdAt}`;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
