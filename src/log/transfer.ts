/**
 * Moving entries in and out: NDJSON/CSV export lines and NDJSON import.
 *
 * Export writes exactly the spec's fields plus `id`. Import reads the same shape (the `id` is
 * ignored: the store assigns new ones), keeps each entry's timestamp, and applies the same
 * redaction and size limits as the logger, so migrating old logs cannot smuggle secrets in. An
 * import is resumable and idempotent (see importEntries).
 */
import { UsageError } from '../errors.js';
import { isoUtc } from '../util/time.js';
import {
  IMPORT_FUTURE_MS,
  IMPORT_MIN_TS,
  MAX_ORDER_ID_CHARS,
  MAX_TEXT_CHARS,
  rowProblem,
} from './entry-check.js';
import { serializeDetails } from './serialize.js';
import type { Redactor } from './redact.js';
import { SpoolMarkConflict, type AppendRow, type LogStore } from './store/types.js';
import { LEVELS, isLevel, type LogEntry } from './types.js';

/** The export columns, in order. */
export const ENTRY_FIELDS = [
  'id',
  'timestamp',
  'level',
  'category',
  'message',
  'details',
  'order_id',
  'error_stack',
] as const;

/**
 * One entry as an NDJSON line (no newline): the spec's field names plus id, in a fixed order, and
 * `problems` only for a stored row that breaks the entry rules (see entry-check.ts).
 */
export function ndjsonLine(e: LogEntry): string {
  return JSON.stringify({
    id: e.id,
    timestamp: e.timestamp,
    level: e.level,
    category: e.category,
    message: e.message,
    details: e.details,
    order_id: e.order_id,
    error_stack: e.error_stack,
    ...(e.problems ? { problems: e.problems } : {}),
  });
}

export const CSV_HEADER = ENTRY_FIELDS.join(',');

/**
 * One entry as a CSV record (RFC 4180 quoting; no newline). A cell starting with = + - @ or a
 * tab/CR gets a leading apostrophe so a spreadsheet shows it as text instead of running it as a
 * formula (OWASP "CSV injection").
 */
export function csvLine(e: LogEntry): string {
  return [
    e.id,
    e.timestamp,
    e.level,
    e.category,
    e.message,
    JSON.stringify(e.details),
    e.order_id ?? '',
    e.error_stack ?? '',
  ]
    .map(csvCell)
    .join(',');
}

function csvCell(value: string): string {
  let v = value;
  if (/^[=+\-@\t\r]/.test(v)) v = `'${v}`;
  return /[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

export interface ImportContext {
  categories: ReadonlySet<string>;
  redactor: Redactor;
  maxDetailsBytes: number;
  /** For error messages, e.g. "old.ndjson". */
  source: string;
  /** "Now" for the timestamp range check (default: the system time). */
  now?: number;
}

/**
 * Parses and checks one NDJSON import line into a row for the store. Throws a UsageError naming
 * the line and the field. Blank lines return undefined.
 */
export function importRow(line: string, lineNo: number, ctx: ImportContext): AppendRow | undefined {
  if (!line.trim()) return undefined;
  const where = `${ctx.source} line ${lineNo}`;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new UsageError('E_IMPORT_JSON', `${where} is not valid JSON (${(err as Error).message})`, {
      hint: 'the file must hold one JSON object per line (NDJSON), as `safetynet logs export --format ndjson` writes',
    });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError('E_IMPORT_ENTRY', `${where} is not a JSON object`, {
      hint: 'each line must be an object with timestamp, level, category and message',
    });
  }
  const o = v as Record<string, unknown>;
  const bad = (field: string, what: string, hint: string): never => {
    throw new UsageError('E_IMPORT_ENTRY', `${where}: ${field} ${what}`, { hint });
  };
  let ts: number;
  if (typeof o.timestamp === 'string') {
    ts = Date.parse(o.timestamp);
    if (Number.isNaN(ts) || !/^\d{4}-\d{2}-\d{2}T/.test(o.timestamp)) {
      bad('timestamp', `"${o.timestamp}" is not an ISO 8601 time`, 'use e.g. "2026-11-26T14:31:01.123Z"');
    }
  } else if (typeof o.timestamp === 'number' && Number.isFinite(o.timestamp)) {
    ts = Math.trunc(o.timestamp);
  } else {
    ts = bad(
      'timestamp',
      'is missing',
      'every entry needs its original time, e.g. "2026-11-26T14:31:01.123Z"',
    );
  }
  const latest = (ctx.now ?? Date.now()) + IMPORT_FUTURE_MS;
  if (ts < IMPORT_MIN_TS || ts > latest) {
    bad(
      'timestamp',
      `${String(o.timestamp)} is outside the accepted range (${isoUtc(IMPORT_MIN_TS)} to a day from now)`,
      'give the time the entry was written, as ISO 8601 or ms since the epoch',
    );
  }
  if (!isLevel(o.level))
    bad('level', `"${String(o.level)}" is not a level`, `use one of: ${LEVELS.join(', ')}`);
  if (typeof o.category !== 'string' || !ctx.categories.has(o.category)) {
    bad(
      'category',
      `"${String(o.category)}" is not a configured category`,
      `use one of: ${[...ctx.categories].join(', ')} (declare custom ones in logs.categories)`,
    );
  }
  if (typeof o.message !== 'string') bad('message', 'must be a string', 'give every entry a message');
  if (
    o.details !== undefined &&
    o.details !== null &&
    (typeof o.details !== 'object' || Array.isArray(o.details))
  ) {
    bad('details', 'must be a JSON object', 'use an object, e.g. {"amount": 12.5}, or leave it out');
  }
  const orderId = o.order_id ?? o.orderId;
  if (
    orderId !== undefined &&
    orderId !== null &&
    typeof orderId !== 'string' &&
    typeof orderId !== 'number'
  ) {
    bad('order_id', 'must be a string or a number', 'use the order id as text, e.g. "1042"');
  }
  if (orderId !== undefined && orderId !== null && String(orderId).length > MAX_ORDER_ID_CHARS) {
    bad(
      'order_id',
      `is longer than ${MAX_ORDER_ID_CHARS} characters`,
      'use the order id as text, e.g. "1042"',
    );
  }
  const stack = o.error_stack;
  if (stack !== undefined && stack !== null && typeof stack !== 'string') {
    bad('error_stack', 'must be a string', 'leave it out or give the stack as text');
  }
  const row: AppendRow = {
    ts,
    level: o.level as AppendRow['level'],
    category: o.category as string,
    message: ctx.redactor.text(cut(o.message as string, ctx.maxDetailsBytes, 'message')),
    details:
      o.details === undefined || o.details === null
        ? '{}'
        : serializeDetails(o.details, ctx.redactor, ctx.maxDetailsBytes),
    orderId: orderId === undefined || orderId === null || orderId === '' ? null : String(orderId),
    errorStack:
      typeof stack === 'string' ? ctx.redactor.text(cut(stack, MAX_TEXT_CHARS - 100, 'stack')) : null,
  };
  // What the store itself refuses (a backstop: the checks above should have caught it).
  const problem = rowProblem(row);
  if (problem !== undefined) bad('entry', `is invalid: ${problem}`, 'fix the line or leave it out');
  return row;
}

/** Cuts a long text with a visible marker, as the logger does. */
function cut(text: string, max: number, what: string): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${what} truncated, ${text.length} characters]`;
}

/** Rows per import transaction. */
const IMPORT_BATCH = 5000;

export interface ImportResult {
  /** Entries stored by this run. */
  imported: number;
  /** Entries of the file a previous run (complete, or cut short by a crash) had stored already. */
  alreadyImported: number;
  /** Entries in the file. */
  total: number;
}

/**
 * The store key recording how far an import of this exact content got (its SHA-256). It uses the
 * stores' spool-replay bookkeeping (`append` with a mark, `spoolOffset`), committed atomically with
 * each batch, so it works in every store; it never names a spool file (those start `spool-`).
 */
export function importKey(sha256Hex: string): string {
  return `import-${sha256Hex}`;
}

/**
 * Stores the entries of `lines` (already checked: see importRow) in batches, resumable and
 * idempotent: each batch is committed together with the number of lines consumed so far under the
 * content's import key, so a run cut short (a crash, a full disk) is finished by running the same
 * import again, and a file imported completely imports nothing the second time. Returns counts.
 */
export async function importEntries(
  store: Pick<LogStore, 'append' | 'spoolOffset'>,
  lines: () => AsyncIterable<string>,
  ctx: ImportContext,
  key: string,
  batchSize = IMPORT_BATCH,
): Promise<ImportResult> {
  const done = await store.spoolOffset(key);
  let lineNo = 0;
  let from = done;
  let total = 0;
  let alreadyImported = 0;
  let imported = 0;
  let batch: AppendRow[] = [];
  const commit = async (to: number): Promise<void> => {
    try {
      await store.append(batch, { spoolMark: { file: key, from, to } });
    } catch (err) {
      if (!(err instanceof SpoolMarkConflict)) throw err;
      throw new UsageError('E_IMPORT_CONCURRENT', `${ctx.source} is being imported by another process`, {
        hint: 'wait for the other import to finish, then run this one again (it continues where that one got)',
        cause: err,
      });
    }
    imported += batch.length;
    batch = [];
    from = to;
  };
  for await (const l of lines()) {
    const row = importRow(l, ++lineNo, ctx);
    if (row) total++;
    if (lineNo <= done) {
      if (row) alreadyImported++;
      continue;
    }
    if (!row) continue;
    batch.push(row);
    if (batch.length >= batchSize) await commit(lineNo);
  }
  // The last batch also records the end of the file, so a complete import is remembered.
  if (batch.length > 0 || lineNo > from) await commit(lineNo);
  return { imported, alreadyImported, total };
}
