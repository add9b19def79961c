/**
 * An entry as both stores keep it (one row, the level as its rank, details as JSON text) and how
 * a reader turns it back into a LogEntry. Shared so SQLite and PostgreSQL show a stored row the
 * same way, including a row that breaks the entry rules (flagged, never a crash).
 */
import { flagged, storedTimestamp } from '../entry-check.js';
import { LEVELS, type LogEntry } from '../types.js';

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

/** The columns of a StoredRow, in a SELECT list. */
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
