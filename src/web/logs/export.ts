/**
 * Export of every entry matching a filter, newest first, as NDJSON or CSV. The rows are produced
 * page by page through the store's keyset cursor, so memory stays flat however many entries match
 * and entries logged during the export (all newer than the first page) never shift the pages.
 */
import type { LogEntry, LogFilter } from '../../log/types.js';
import type { LogStore } from '../../log/store/types.js';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

const PAGE = 1000;
const CSV_COLUMNS = [
  'id',
  'timestamp',
  'level',
  'category',
  'order_id',
  'message',
  'details',
  'error_stack',
] as const;

/** One CSV field: quoted when needed, and defused against spreadsheet formula injection. */
export function csvField(value: string): string {
  // A cell starting with = + - @ (or a tab/CR) is run as a formula by spreadsheet programs;
  // OWASP's advice is a leading apostrophe, which they show as text.
  let v = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  if (/[",\r\n]/.test(v)) v = `"${v.replace(/"/g, '""')}"`;
  return v;
}

function csvRow(e: LogEntry): string {
  const cells: Record<(typeof CSV_COLUMNS)[number], string> = {
    id: e.id,
    timestamp: e.timestamp,
    level: e.level,
    category: e.category,
    order_id: e.order_id ?? '',
    message: e.message,
    details: JSON.stringify(e.details),
    error_stack: e.error_stack ?? '',
  };
  return CSV_COLUMNS.map((c) => csvField(cells[c])).join(',') + '\r\n';
}

/** Progress of one export, read by the caller for its audit entry. */
export interface ExportProgress {
  rows: number;
}

/**
 * The export's text in chunks (one per store page). `progress.rows` counts the rows produced.
 * `signal` stops it between pages (the client went away).
 */
export async function* exportChunks(
  store: LogStore,
  filter: LogFilter,
  format: ExportFormat,
  progress: ExportProgress,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  // A BOM lets spreadsheet programs read the CSV as UTF-8.
  if (format === 'csv') yield '\uFEFF' + CSV_COLUMNS.join(',') + '\r\n';
  let cursor: string | undefined;
  do {
    if (signal?.aborted) return;
    const page = await store.search(filter, cursor ? { limit: PAGE, cursor } : { limit: PAGE });
    let chunk = '';
    for (const e of page.entries) chunk += format === 'csv' ? csvRow(e) : JSON.stringify(e) + '\n';
    progress.rows += page.entries.length;
    if (chunk) yield chunk;
    cursor = page.nextCursor;
  } while (cursor);
}
