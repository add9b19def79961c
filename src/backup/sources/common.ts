/**
 * Small pieces every source shares: the backup lock (reporting stale locks it removed) and the
 * abort check that turns a fired signal into E_ABORTED.
 */
import { SafetynetError } from '../../errors.js';
import type { BackupDeps } from '../context.js';
import type { HeldLock } from '../repo/lock.js';

/** Takes the exclusive lock for a backup, logging any stale lock of a dead local process it removed. */
export function lockForBackup(deps: BackupDeps, purpose: string): Promise<HeldLock> {
  return deps.repo.lock(purpose, true, (l) => {
    void deps.log.warn(
      `removed a stale repository lock left by pid ${l.pid} on ${l.host} (${l.purpose}, since ${l.createdAt})`,
      {
        details: { lock: l },
      },
    );
  });
}

/** Throws E_ABORTED when the signal fired (the caller aborts the point's writer). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new SafetynetError(
      'E_ABORTED',
      'the backup was stopped before it finished; no restore point was created',
      {
        hint: 'it runs again at its next scheduled time, or run it by hand',
      },
    );
  }
}

/** The restore-test check a restore failure belongs to, from its code. */
export function restoreCheckName(err: unknown): string {
  const code = err instanceof SafetynetError ? err.code : '';
  if (code === 'E_RESTORE_CHECKSUM') return 'SHA-256 matches the manifest';
  if (code === 'E_RESTORE_INTEGRITY') return 'PRAGMA integrity_check';
  if (code.startsWith('E_IDENTITY')) return 'identity can decrypt the repository';
  if (code === 'E_OBJECT_CORRUPT' || code === 'E_OBJECT_MISSING' || code === 'E_CHAIN_BROKEN')
    return 'objects decrypt and match the manifest';
  return 'database restore';
}

/** An error as one line with its code, for recorded checks. */
export function describeError(err: unknown): string {
  if (err instanceof SafetynetError) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}
