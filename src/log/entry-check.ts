/**
 * What a log entry may hold, checked on the way in (the logger, `logs import`, every store's
 * append, spool replay) and tolerated on the way out: a row that is already stored but breaks
 * these rules (written by an older version, or below the API) is still shown, flagged, and never
 * makes a reader crash.
 */
import { UsageError } from '../errors.js';
import { isLevel, type LogEntry } from './types.js';
import type { AppendRow } from './store/types.js';

/** The earliest timestamp a store accepts: 1970-01-01T00:00:00.000Z. */
export const MIN_TS = 0;
/** The latest timestamp a store accepts: 9999-12-31T23:59:59.999Z (four-digit years, sortable ISO text). */
export const MAX_TS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** Imports accept times from 2000-01-01 ... */
export const IMPORT_MIN_TS = Date.UTC(2000, 0, 1);
/** ... to this far past "now" (clocks of the machines that wrote the file may run a little ahead). */
export const IMPORT_FUTURE_MS = 86_400_000;
/** Category names: what logs.categories accepts for custom ones (the built-in ones fit too). */
export const CATEGORY_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
/** Longest order id, characters. */
export const MAX_ORDER_ID_CHARS = 256;
/** Longest message and stack, characters (the logger cuts messages at maxDetailsBytes ≤ 16 MiB). */
export const MAX_TEXT_CHARS = 17 * 1024 * 1024;
/** Longest details text, characters (a 16 MiB raw webhook body, escaped up to 6x, fits). */
export const MAX_DETAILS_CHARS = 128 * 1024 * 1024;

/** True when `ts` is a whole number of ms a store accepts. */
export function validTimestamp(ts: unknown): ts is number {
  return typeof ts === 'number' && Number.isInteger(ts) && ts >= MIN_TS && ts <= MAX_TS;
}

/**
 * The first rule `row` breaks, as "field: what is wrong", or undefined when it is a valid entry.
 * Cheap enough for every append: details are checked for shape (an object's braces), not parsed.
 */
export function rowProblem(row: AppendRow): string | undefined {
  if (row === null || typeof row !== 'object') return 'the row is not an object';
  if (!validTimestamp(row.ts))
    return `timestamp ${String(row.ts)} is not a whole number of ms between 1970 and 9999`;
  if (!isLevel(row.level)) return `level "${String(row.level)}" is not one of info, warn, error, critical`;
  if (typeof row.category !== 'string' || !CATEGORY_PATTERN.test(row.category))
    return `category "${String(row.category)}" is not a category name (${CATEGORY_PATTERN.source})`;
  if (typeof row.message !== 'string') return 'message is not a string';
  if (row.message.length > MAX_TEXT_CHARS) return `message is longer than ${MAX_TEXT_CHARS} characters`;
  if (typeof row.details !== 'string' || !row.details.startsWith('{') || !row.details.endsWith('}'))
    return 'details is not JSON object text';
  if (row.details.length > MAX_DETAILS_CHARS) return `details is longer than ${MAX_DETAILS_CHARS} characters`;
  if (row.orderId !== null && (typeof row.orderId !== 'string' || row.orderId.length > MAX_ORDER_ID_CHARS))
    return `order_id must be null or text of at most ${MAX_ORDER_ID_CHARS} characters`;
  if (
    row.errorStack !== null &&
    (typeof row.errorStack !== 'string' || row.errorStack.length > MAX_TEXT_CHARS)
  )
    return `error_stack must be null or text of at most ${MAX_TEXT_CHARS} characters`;
  if (
    row.webhook !== undefined &&
    (typeof row.webhook?.provider !== 'string' || typeof row.webhook.eventId !== 'string')
  )
    return 'webhook must hold a provider and an event id';
  return undefined;
}

/** Throws E_LOG_ENTRY (exit 2) naming the first bad row and field; what every store's append calls. */
export function assertValidRows(rows: readonly AppendRow[]): void {
  for (let i = 0; i < rows.length; i++) {
    const problem = rowProblem(rows[i]!);
    if (problem !== undefined) {
      throw new UsageError('E_LOG_ENTRY', `log entry ${i + 1} of ${rows.length} is invalid: ${problem}`, {
        hint: 'write entries through the logger or `safetynet logs import`, which check and normalise them',
      });
    }
  }
}

/** The stored time as the ISO text readers get; an impossible one becomes its raw number, flagged. */
export function storedTimestamp(ts: number, problems: string[]): string {
  if (validTimestamp(ts)) return new Date(ts).toISOString();
  problems.push(`stored timestamp ${String(ts)} is outside 1970..9999`);
  return String(ts);
}

/** Adds `problems` to an entry read from a store (only when there are any). */
export function flagged(entry: LogEntry, problems: string[]): LogEntry {
  if (problems.length > 0) entry.problems = problems;
  return entry;
}
