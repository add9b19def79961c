/**
 * What the SQLite store's modules share: the chain head shape and the store's error reporting
 * (the stored row and turning it into an entry are shared with PostgreSQL: ../stored-row.ts).
 */
import { StorageError } from '../../../errors.js';

export interface Head {
  seq: number;
  hash: string;
}

/** SQLite result codes that mean "the store cannot be written now" (spool and retry). */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  const inner = (err as { cause?: { code?: unknown } })?.cause?.code;
  const c = typeof code === 'string' ? code : typeof inner === 'string' ? inner : '';
  return /^(SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|PERM|CORRUPT|NOTADB|PROTOCOL|AUTH)|E(ACCES|PERM|ROFS|NOSPC|NOTDIR|NOENT|IO|DQUOT))/.test(
    c,
  );
}

/** A StorageError naming the store file and what failed. */
export function storeError(file: string, verb: string, err: unknown): StorageError {
  const code = (err as { code?: unknown })?.code;
  const msg = err instanceof Error ? err.message : String(err);
  const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
  return new StorageError(
    'E_LOG_STORE',
    `cannot ${verb} the log store ${file}: ${msg}${typeof code === 'string' ? ` (${code})` : ''}`,
    {
      hint: busy
        ? 'another process holds the store locked; retry, or find the process keeping a long transaction open'
        : 'check logs.store.path: the folder must exist and be writable, and the disk must not be full',
      cause: err,
      transient: busy,
    },
  );
}

/** Pause between maintenance transactions, ms, so waiting writers get the lock. */
export const DEFAULT_PRUNE_PAUSE_MS = 25;
