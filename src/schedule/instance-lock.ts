/**
 * One scheduler per repository. Two `safetynet serve` processes would run every backup twice and
 * race each other's retention, so the scheduler holds an InstanceLock while it runs, and a second
 * serve refuses to start with an error naming the holder (it does not wait as a standby: a
 * standby that takes over silently hides the fact that the first one is gone; a supervisor such
 * as systemd restarting a refused serve gives the same failover, visibly).
 *
 * The production lock lives in the backup repository (so it works across machines); the file lock
 * here is for tests and for a single machine.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LockError, SafetynetError, isErrno } from '../errors.js';
import { fsyncDir, tempSibling, writeFileAtomic } from '../util/fs.js';

/** Held by a running scheduler. acquire() throws a LockError (code E_SERVE_RUNNING) when taken. */
export interface InstanceLock {
  acquire(): Promise<void>;
  release(): Promise<void>;
  /**
   * After acquire(): aborts when the lock could no longer be kept (its lease lapsed). The
   * scheduler then aborts the running job and stops, so two schedulers never run at once.
   */
  readonly lost?: AbortSignal | undefined;
}

/** What a lock file says about its holder. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO 8601 UTC. */
  since: string;
  /** Random per acquisition, so a process removes only its own lock. */
  token: string;
}

export interface FileInstanceLockOptions {
  /** Host name written and compared. Default os.hostname(). */
  host?: string;
  /** Process id written. Default process.pid. */
  pid?: number;
  /** Clock for the `since` field. Default Date.now. */
  now?: () => number;
  /** Whether a process id is alive on this host. Default: signal 0. */
  isAlive?: (pid: number) => boolean;
}

/**
 * A lock file holding {pid, host, since, token}, created with O_EXCL. A lock left by a dead
 * process on the same host is stale and taken over; a lock from another host cannot be checked
 * from here and is never taken over (the error says how to remove it by hand).
 */
export class FileInstanceLock implements InstanceLock {
  private held: LockHolder | undefined;
  private readonly host: string;
  private readonly pid: number;
  private readonly now: () => number;
  private readonly isAlive: (pid: number) => boolean;

  constructor(
    readonly file: string,
    options: FileInstanceLockOptions = {},
  ) {
    this.host = options.host ?? os.hostname();
    this.pid = options.pid ?? process.pid;
    this.now = options.now ?? Date.now;
    this.isAlive = options.isAlive ?? processIsAlive;
  }

  async acquire(): Promise<void> {
    if (this.held) return;
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    const me: LockHolder = {
      pid: this.pid,
      host: this.host,
      since: new Date(this.now()).toISOString(),
      token: randomBytes(12).toString('hex'),
    };
    // A few rounds: each lost race (another process created or removed the file in between) is
    // re-evaluated from scratch.
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await this.tryCreate(me)) {
        this.held = me;
        return;
      }
      const holder = await this.readHolder();
      if (holder === undefined) continue; // removed meanwhile: try again
      if (holder !== null && !this.isStale(holder)) throw this.heldError(holder);
      // Stale (dead pid on this host) or unreadable junk left by a crash mid-write: remove it, but
      // only if it is still the same file we judged (another process may have replaced it).
      const again = await this.readHolder();
      if (again === undefined) continue;
      if (again === null ? holder !== null : holder === null || again.token !== holder.token) continue;
      await fsp.rm(this.file, { force: true });
    }
    throw new LockError(
      'E_LOCK_CONTENDED',
      `could not take the scheduler lock ${this.file}: other processes keep taking it`,
      {
        hint: 'make sure only one safetynet serve starts at a time',
      },
    );
  }

  async release(): Promise<void> {
    const mine = this.held;
    if (!mine) return;
    this.held = undefined;
    const holder = await this.readHolder();
    // Never remove a lock someone else holds now (e.g. after ours was removed by hand).
    if (holder && holder.token === mine.token) {
      await fsp.rm(this.file, { force: true });
      await fsyncDir(path.dirname(this.file));
    }
  }

  /** True after a successful acquire() and before release(). */
  isHeld(): boolean {
    return this.held !== undefined;
  }

  /**
   * Creates the lock file with its full content in one step: write a temporary sibling, then
   * hard-link it to the lock name (link fails if the name exists). So no reader ever sees a
   * half-written lock and mistakes it for junk.
   */
  private async tryCreate(me: LockHolder): Promise<boolean> {
    const tmp = tempSibling(this.file);
    try {
      await writeFileAtomic(tmp, JSON.stringify(me) + '\n');
      try {
        await fsp.link(tmp, this.file);
      } catch (err) {
        if (isErrno(err, 'EEXIST')) return false;
        throw err;
      }
      await fsyncDir(path.dirname(this.file));
      return true;
    } catch (err) {
      throw new SafetynetError(
        'E_LOCK_IO',
        `cannot create the scheduler lock ${this.file}: ${(err as Error).message}`,
        {
          hint: 'check that the folder is writable by the user running safetynet serve',
          cause: err,
        },
      );
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  /** The holder; null when the file exists but is not a lock we can read; undefined when gone. */
  private async readHolder(): Promise<LockHolder | null | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    try {
      const v = JSON.parse(text) as Partial<LockHolder>;
      if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
        return { pid: v.pid, host: v.host, since: String(v.since ?? ''), token: v.token };
      }
    } catch {
      // fall through: unreadable
    }
    return null;
  }

  private isStale(holder: LockHolder): boolean {
    return holder.host === this.host && !this.isAlive(holder.pid);
  }

  private heldError(holder: LockHolder): LockError {
    const where = holder.host === this.host ? 'on this host' : `on host "${holder.host}"`;
    return new LockError(
      'E_SERVE_RUNNING',
      `another safetynet serve is running for this repository: pid ${holder.pid} ${where}, since ${holder.since || 'an unknown time'}`,
      {
        hint:
          `stop that process first (only one serve may run per repository). If it is gone and the lock is left over, ` +
          `delete ${this.file}`,
        details: { holder: { pid: holder.pid, host: holder.host, since: holder.since }, lockFile: this.file },
      },
    );
  }
}

/** True when a process with this id exists (EPERM: it exists but belongs to another user). */
export function processIsAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
