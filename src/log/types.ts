/**
 * The logging contract shared by the logger, the stores, the CLI and the admin panel.
 * (The logging work owns this file; other layers code against these shapes.)
 */

export const LEVELS = ['info', 'warn', 'error', 'critical'] as const;
export type Level = (typeof LEVELS)[number];

/** One stored entry: exactly the spec's fields plus `id`. */
export interface LogEntry {
  /** Store-assigned, increasing id (string so it survives JSON and PostgreSQL bigint). */
  id: string;
  /** UTC, ISO 8601 with milliseconds, e.g. "2026-11-26T14:31:01.123Z". */
  timestamp: string;
  level: Level;
  category: string;
  message: string;
  /** Always a JSON object (possibly empty). */
  details: Record<string, unknown>;
  order_id: string | null;
  error_stack: string | null;
}

/** Options every logging call accepts. */
export interface LogOptions {
  details?: Record<string, unknown>;
  orderId?: string | number;
}

/** The four level methods of one category. Each resolves with the entry id once it is durably stored. */
export interface CategoryLogger {
  info(message: string, options?: LogOptions): Promise<string>;
  warn(message: string, options?: LogOptions): Promise<string>;
  error(message: string, options?: LogOptions): Promise<string>;
  critical(message: string, options?: LogOptions): Promise<string>;
}

/** A filter over the log store; every field is optional and they combine with AND. */
export interface LogFilter {
  categories?: string[];
  /** Exactly this level. */
  level?: Level;
  /** This level or more severe. */
  minLevel?: Level;
  /** Inclusive lower bound, ms since epoch. */
  since?: number;
  /** Exclusive upper bound, ms since epoch. */
  until?: number;
  orderId?: string;
  /** Full-text query over the message (and searchable details). */
  text?: string;
}

export interface SearchOptions {
  /** Page size (default 50, max 1000). */
  limit?: number;
  /** Opaque keyset cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface SearchPage {
  /** Newest first. */
  entries: LogEntry[];
  /** Present when more entries match. */
  nextCursor?: string;
}
