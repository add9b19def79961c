/**
 * What the SQLite store's modules share: the stored row shape, turning a row into an entry, and
 * the store's error reporting.
 */
import { StorageError } from '../../../errors.js';
import { flagged, storedTimestamp } from '../../entry-check.js';
import { LEVELS, type LogEntry } from '../../types.js';

export interface Head {
  seq: number;
  hash: string;
}

export interface StoredRow {
  id: number;
  ts: number;
  level: number;
  category: string;
  message: string;
  details: string;
  order_id: string | null;
  error_stack: string | null;
}

export const COLUMNS = 'id, ts, level, category, message, details, order_id, error_stack';

/** A stored row as the entry readers get. */
export function toEntry(r: StoredRow): LogEntry {
  let details: Record<string, unknown>;
  try {
    const d = JSON.parse(r.details) as unknown;
    details =
      d !== null && typeof d === 'object' && !Array.isArray(d)
        ? (d as Record<string, unknown>)
        : { value: d };
  } catch {
    details = { _unparseable: r.details };
  }
  // A row that breaks the entry rules (stored by an older version, or below the API) is shown
  // flagged rather than crashing the reader.
  const problems: string[] = [];
  const level = LEVELS[r.level];
  if (level === undefined) problems.push(`stored level ${String(r.level)} is not a level`);
  return flagged(
    {
      id: String(r.id),
      timestamp: storedTimestamp(r.ts, problems),
      level: level ?? 'critical',
      category: r.category,
      message: r.message,
      details,
      order_id: r.order_id,
      error_stack: r.error_stack,
    },
    problems,
  );
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
