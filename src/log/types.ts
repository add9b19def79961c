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
  /**
   * Present only on an entry read back from a store that breaks the rules entries are checked
   * against on the way in (e.g. an impossible timestamp, shown as its raw number): what is wrong.
   */
  problems?: string[];
}

/** Options every logging call accepts. */
export interface LogOptions {
  details?: Record<string, unknown>;
  orderId?: string | number;
}

/**
 * What a write resolves with when the entry is not known to be durable (it never rejects):
 * - `unsaved:timeout` — not durable within `writeTimeoutMs`; it stays queued and may still land;
 * - `unsaved:dropped` — the in-memory queue was full; the entry was given to the last resort
 *   (stderr by default) and is not stored;
 * - `unsaved:closed` — logged after `close()`, or still queued when `close()` gave up, and neither
 *   the store nor the spool took it; given to the last resort.
 */
export type UnsavedStatus = 'unsaved:timeout' | 'unsaved:dropped' | 'unsaved:closed';

/** True when a write's result is a store id or a spool position, i.e. the entry is durable. */
export function isDurable(id: string): boolean {
  return !id.startsWith('unsaved:');
}

/** What `flush()` settles with (within `writeTimeoutMs` unless another limit is given). */
export interface FlushResult {
  /** Every entry logged before the call is durable. */
  durable: boolean;
  /** Entries still held in memory, not yet durable, when it settled. */
  pending: number;
}

/** What `close()` reports (within `closeTimeoutMs`). */
export interface CloseReport {
  /** Every entry this logger was given is durable: nothing dropped, nothing unsaved. */
  durable: boolean;
  /** Entries still not durable when close gave up waiting; given to the last resort (stderr). */
  unsaved: number;
  /** Entries dropped over the logger's life because the queue was full (also given to stderr). */
  dropped: number;
}

/**
 * The four level methods of one category. Each resolves with the entry id once it is durably
 * stored, or with an UnsavedStatus (see isDurable) when it is not within the time limit.
 */
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

/** Severity rank of each level: higher is more severe (stored as this number). */
export const LEVEL_RANK: Readonly<Record<Level, number>> = { info: 0, warn: 1, error: 2, critical: 3 };

/** True when `value` is one of the four levels. */
export function isLevel(value: unknown): value is Level {
  return typeof value === 'string' && (LEVELS as readonly string[]).includes(value);
}

/** Options of `log.error(err, …)`. */
export interface ErrorLogOptions extends LogOptions {
  /** Category to file the error under (default `error`). */
  category?: string;
  /** Level (default `error`). */
  level?: Level;
  /** Message to store instead of the error's own message. */
  message?: string;
}

/** What `log.webhook(…)` captures: the raw request of a payment provider's webhook. */
export interface WebhookCapture {
  /** Who sent it, e.g. "stripe", "paypal", "mollie". */
  provider: string;
  /** The provider's event id; a repeated id is stored and marked as a duplicate. */
  eventId?: string;
  /** Request headers; authorization/cookie-like headers are redacted. */
  headers?: Record<string, string | string[] | undefined>;
  /** The body exactly as received. Strings are stored as they are; bytes that are not UTF-8 as base64. */
  rawBody: string | Buffer | Uint8Array;
  orderId?: string | number;
  message?: string;
  /** Defaults to `info`; a failed signature check is usually logged as `warn` (and to `security`). */
  level?: Level;
}

/** Fields bound to a child logger and added to every entry it writes. */
export interface ChildBindings {
  orderId?: string | number;
  details?: Record<string, unknown>;
}

/** `log.webhook`: call it to capture a raw webhook; its level methods log plain `webhook` entries. */
export interface WebhookLogger extends CategoryLogger {
  (capture: WebhookCapture): Promise<string>;
}

/** `log.error`: call it with an Error (or anything thrown); its level methods log plain `error` entries. */
export interface ErrorLogger extends CategoryLogger {
  (err: unknown, options?: ErrorLogOptions): Promise<string>;
}

/** Which process events a logger handles (see `Logger.installProcessHandlers`). */
export interface ProcessHandlerOptions {
  /** Signals after which pending entries are flushed (default SIGTERM and SIGINT). */
  signals?: NodeJS.Signals[] | false;
  /** Log uncaught exceptions and unhandled rejections as `error`/`critical` and flush (default true). */
  uncaught?: boolean;
  /** Longest wait for the flush, ms (default 5000). */
  timeoutMs?: number;
}

/**
 * The logger the shop's code uses. Every write method resolves with the entry id once the entry is
 * durable (committed and fsync'd in the store, or fsync'd in the spool while the store is down, in
 * which case the id starts with `spool:`); when that does not happen within `writeTimeoutMs`, or
 * the queue is full, it resolves with an UnsavedStatus instead. It never rejects.
 */
export interface Logger {
  /** Call to capture a raw payment webhook; `.info(…)` etc. log plain `webhook` entries. */
  readonly webhook: WebhookLogger;
  readonly payment: CategoryLogger;
  readonly order: CategoryLogger;
  readonly invoice: CategoryLogger;
  readonly inventory: CategoryLogger;
  readonly admin: CategoryLogger;
  readonly email: CategoryLogger;
  readonly security: CategoryLogger;
  readonly backup: CategoryLogger;
  readonly system: CategoryLogger;
  /** Call with an Error (message, stack, cause chain are stored); `.warn(…)` etc. log plain `error` entries. */
  readonly error: ErrorLogger;
  /** Any configured category, built-in or custom; an unknown name throws E_LOG_CATEGORY. */
  category(name: string): CategoryLogger;
  /** A logger that adds `bindings` to every entry (details merge; the entry's own fields win). */
  child(bindings: ChildBindings): Logger;
  /**
   * Settles once every entry logged so far is durable, or when `timeoutMs` (default the logger's
   * `writeTimeoutMs`) has passed; the result says which.
   */
  flush(options?: { timeoutMs?: number }): Promise<FlushResult>;
  /**
   * Flushes and stops the writer within `closeTimeoutMs`, reporting what it could not keep;
   * later calls still land in the spool.
   */
  close(): Promise<CloseReport>;
  /**
   * Flushes on SIGTERM/SIGINT (then lets the signal end the process when nothing else listens to
   * it) and logs uncaught exceptions/unhandled rejections as `error`/`critical` before the process
   * dies. Returns a function that removes the handlers.
   */
  installProcessHandlers(options?: ProcessHandlerOptions): () => void;
  /** The store, for reading, pruning and verifying (opened on first use). */
  readonly store: import('./store/types.js').LogStore;
}
