/**
 * One `safetynet serve` per repository, across machines: an exclusive lock record in the
 * repository's instance/ folder (apart from the backup locks the jobs take). A second serve refuses
 * with a message naming the first; a lock left by a serve that died on this machine is taken over
 * and reported.
 */
import { LockError } from '../errors.js';
import type { InstanceLock } from '../schedule/instance-lock.js';
import type { Repository } from '../backup/repo/repository.js';
import { acquireLock, type HeldLock, type LockRecord } from '../backup/repo/lock.js';
import { INSTANCE_PREFIX } from '../backup/repo/layout.js';

export { INSTANCE_PREFIX };

export class RepositoryInstanceLock implements InstanceLock {
  private held?: HeldLock;

  constructor(
    private readonly repo: Repository,
    private readonly onStaleRemoved: (l: LockRecord) => void = () => {},
  ) {}

  async acquire(): Promise<void> {
    await this.repo.prepareForWrite();
    try {
      this.held = await acquireLock(this.repo.storage, {
        purpose: 'safetynet serve',
        exclusive: true,
        clock: this.repo.clock,
        prefix: INSTANCE_PREFIX,
        onStaleRemoved: this.onStaleRemoved,
        ...this.repo.lockTimings,
      });
    } catch (err) {
      if (err instanceof LockError) {
        const holder = (err.details?.lock ?? {}) as Partial<LockRecord>;
        throw new LockError(
          'E_SERVE_RUNNING',
          `another safetynet serve already runs for ${this.repo.storage.url} (pid ${holder.pid} on ${holder.host}, since ${holder.createdAt})`,
          {
            hint: 'only one serve may run per repository; stop the other one first (or point this one at another repository). If it is gone, its lock expires by itself within 10 min of its last refresh, or `safetynet unlock --all` removes it at once',
            details: err.details,
          },
        );
      }
      throw err;
    }
  }

  /** Aborts when the lease could not be kept; the scheduler then stops (see Scheduler). */
  get lost(): AbortSignal | undefined {
    return this.held?.lost;
  }

  async release(): Promise<void> {
    await this.held?.release();
    this.held = undefined;
  }
}
