/**
 * The Logger the shop's code calls: category helpers, errors, raw webhooks, child loggers.
 *
 * A call does only cheap work on the caller's thread: redact and serialise the details, take the
 * time, append the row to the current batch (see sink.ts). It never throws because of what was
 * logged and never rejects because storing failed; the returned promise resolves with the id
 * once the entry is durable.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { SafetynetError } from '../errors.js';
import { MAX_ORDER_ID_CHARS, MAX_TEXT_CHARS, validTimestamp } from './entry-check.js';
import { messageWithCauses, stackWithCauses } from './error-stack.js';
import type { Redactor } from './redact.js';
import { REDACTED } from './redact.js';
import { serializeDetails, serializeError, toSafeJson } from './serialize.js';
import type { Sink } from './sink.js';
import type { LogStore } from './store/types.js';
import {
  LEVELS,
  isLevel,
  type CategoryLogger,
  type CloseReport,
  type FlushResult,
  type ChildBindings,
  type ErrorLogOptions,
  type ErrorLogger,
  type Level,
  type LogOptions,
  type Logger,
  type ProcessHandlerOptions,
  type WebhookCapture,
  type WebhookLogger,
} from './types.js';

/** Raw webhook bodies are stored whole up to this size (maxDetailsBytes does not cut them). */
const MAX_RAW_BODY_BYTES = 16 * 1024 * 1024;

/** What every logger of one createLogger() call shares. */
export interface LoggerCore {
  categories: ReadonlySet<string>;
  redactor: Redactor;
  maxDetailsBytes: number;
  clock: Clock;
  sink: Sink;
  store: LogStore;
  /** Runs when the root logger closes (exit hooks, store). */
  onClose: () => Promise<CloseReport>;
  /** Removers of installed process handlers (closing the logger removes them). */
  handlers: Set<() => void>;
  notify: (text: string) => void;
}

interface Bound {
  orderId: string | null;
  /** Redacted, JSON-safe bound details (sanitised once, when the child is made). */
  details: Record<string, unknown> | undefined;
}

const NO_BINDINGS: Bound = { orderId: null, details: undefined };

function orderIdText(v: string | number | undefined | null, bound: Bound): string | null {
  if (v === undefined || v === null || v === '') return bound.orderId;
  const s = String(v);
  return s.length > MAX_ORDER_ID_CHARS ? s.slice(0, MAX_ORDER_ID_CHARS) : s;
}

/**
 * The entry time: the clock's, unless it gives something a store would refuse (a broken custom
 * clock, a machine at 1969): then the system time, so the entry is still stored.
 */
function entryTime(clock: Clock): number {
  const t = clock.now();
  if (validTimestamp(t)) return t;
  const r = Math.trunc(t);
  return validTimestamp(r) ? r : Date.now();
}

/** Writes one entry. Never throws: a failure to build the entry is itself logged. */
function write(
  core: LoggerCore,
  level: Level,
  category: string,
  message: unknown,
  options: LogOptions | undefined,
  bound: Bound,
  errorStack: string | null = null,
  extraDetails?: Record<string, unknown>,
): Promise<string> {
  const ts = entryTime(core.clock);
  try {
    const msg = core.redactor.text(
      limitMessage(typeof message === 'string' ? message : String(message), core.maxDetailsBytes),
    );
    let details: string;
    const own = options?.details;
    if (extraDetails !== undefined) {
      details = serializeDetails(
        own === undefined ? extraDetails : { ...own, ...extraDetails },
        core.redactor,
        core.maxDetailsBytes,
        bound.details,
      );
    } else if (own === undefined && bound.details === undefined) {
      details = '{}';
    } else {
      details = serializeDetails(own, core.redactor, core.maxDetailsBytes, bound.details);
    }
    const stack =
      errorStack === null ? null : core.redactor.text(limitMessage(errorStack, MAX_TEXT_CHARS - 100));
    return core.sink.push(
      ts,
      level,
      category,
      msg,
      details,
      orderIdText(options?.orderId, bound),
      stack,
      null,
      null,
    );
  } catch (err) {
    const details = JSON.stringify({ _loggingError: err instanceof Error ? err.message : String(err) });
    return core.sink.push(ts, level, category, safeString(message), details, bound.orderId, null, null, null);
  }
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return '[unprintable message]';
  }
}

/** Messages are short by nature; a huge one is cut (with a marker) to the details size limit. */
function limitMessage(msg: string, max: number): string {
  if (msg.length <= max) return msg;
  return `${msg.slice(0, max)}… [message truncated, ${msg.length} characters]`;
}

class CategoryLoggerImpl implements CategoryLogger {
  constructor(
    private readonly core: LoggerCore,
    private readonly name: string,
    private readonly bound: Bound,
  ) {}
  info(message: string, options?: LogOptions): Promise<string> {
    return write(this.core, 'info', this.name, message, options, this.bound);
  }
  warn(message: string, options?: LogOptions): Promise<string> {
    return write(this.core, 'warn', this.name, message, options, this.bound);
  }
  error(message: string, options?: LogOptions): Promise<string> {
    return write(this.core, 'error', this.name, message, options, this.bound);
  }
  critical(message: string, options?: LogOptions): Promise<string> {
    return write(this.core, 'critical', this.name, message, options, this.bound);
  }
}

/** Attaches the four level methods of `category` to a function (for log.webhook and log.error). */
function withLevels<F extends (...args: never[]) => Promise<string>>(
  fn: F,
  levels: CategoryLogger,
): F & CategoryLogger {
  const out = fn as F & CategoryLogger;
  for (const level of LEVELS) {
    Object.defineProperty(out, level, { value: levels[level].bind(levels), enumerable: true });
  }
  return out;
}

/** Logs `err` with its message, stack and cause chain (pino's err serializer layout in details). */
export function logError(
  core: LoggerCore,
  err: unknown,
  options: ErrorLogOptions | undefined,
  bound: Bound,
): Promise<string> {
  let category = options?.category ?? 'error';
  const extra: Record<string, unknown> = {};
  if (!core.categories.has(category)) {
    // An error handler must not throw: file it under `error` and say what was asked.
    extra.requestedCategory = category;
    category = 'error';
  }
  const level = options?.level !== undefined && isLevel(options.level) ? options.level : 'error';
  let message: string;
  let stack: string | null;
  try {
    message = options?.message ?? (messageWithCauses(err) || 'error');
    stack = stackWithCauses(err);
    extra.err = serializeError(err, core.redactor, false);
  } catch (e) {
    message = options?.message ?? 'error (could not be described)';
    stack = null;
    extra.err = { type: 'unserialisable', reason: e instanceof Error ? e.message : String(e) };
  }
  return write(core, level, category, message, options, bound, stack, extra);
}

/** Captures a raw webhook: body byte-for-byte, secret headers redacted, event id for dedupe. */
export function captureWebhook(core: LoggerCore, capture: WebhookCapture, bound: Bound): Promise<string> {
  const ts = entryTime(core.clock);
  const provider = String(capture?.provider ?? 'unknown') || 'unknown';
  const eventId = capture?.eventId === undefined || capture.eventId === null ? null : String(capture.eventId);
  try {
    const raw = capture.rawBody;
    let body: string;
    let encoding: 'utf8' | 'base64';
    let bytes: Buffer;
    if (typeof raw === 'string') {
      body = raw;
      encoding = 'utf8';
      bytes = Buffer.from(raw);
    } else {
      bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      // Valid UTF-8 round-trips exactly through a string; anything else is kept as base64.
      encoding = isUtf8(bytes) ? 'utf8' : 'base64';
      body = bytes.toString(encoding);
    }
    const details: Record<string, unknown> = {};
    if (bound.details) Object.assign(details, bound.details);
    details.provider = provider;
    if (eventId !== null) details.eventId = eventId;
    details.headers = redactHeaders(capture.headers, core.redactor);
    details.rawBodyBytes = bytes.length;
    details.rawBodySha256 = createHash('sha256').update(bytes).digest('hex');
    details.rawBodyEncoding = encoding;
    if (bytes.length > MAX_RAW_BODY_BYTES) {
      details.rawBodyTruncated = true;
      body = body.slice(0, MAX_RAW_BODY_BYTES);
    }
    // The body is embedded as a JSON string (never parsed and re-serialised): JSON.parse gives
    // back exactly the text received.
    details.rawBody = body;
    const message = core.redactor.text(
      capture.message ??
        `${provider} webhook${eventId !== null ? ` ${eventId}` : ''} received (${bytes.length} bytes)`,
    );
    const level = capture.level !== undefined && isLevel(capture.level) ? capture.level : 'info';
    return core.sink.push(
      ts,
      level,
      'webhook',
      message,
      JSON.stringify(details),
      orderIdText(capture.orderId, bound),
      null,
      eventId === null ? null : provider,
      eventId,
    );
  } catch (err) {
    const details = JSON.stringify({
      provider,
      eventId,
      _loggingError: err instanceof Error ? err.message : String(err),
    });
    return core.sink.push(
      ts,
      'warn',
      'webhook',
      `${provider} webhook could not be captured`,
      details,
      bound.orderId,
      null,
      null,
      null,
    );
  }
}

function isUtf8(b: Buffer): boolean {
  const check = (globalThis as { Buffer: { isUtf8?: (x: Buffer) => boolean } }).Buffer.isUtf8;
  if (check) return check(b);
  return Buffer.from(b.toString('utf8')).equals(b);
}

function redactHeaders(
  headers: WebhookCapture['headers'],
  redactor: Redactor,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!headers || typeof headers !== 'object') return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (redactor.isSecretKey(name)) out[name] = REDACTED;
    else
      out[name] = Array.isArray(value)
        ? value.map((v) => redactor.text(String(v)))
        : redactor.text(String(value));
  }
  return out;
}

/** The Logger implementation: a view over the shared core with optional bound fields. */
export class SafetynetLogger implements Logger {
  private readonly cache = new Map<string, CategoryLogger>();
  readonly webhook: WebhookLogger;
  readonly error: ErrorLogger;

  constructor(
    private readonly core: LoggerCore,
    private readonly bound: Bound = NO_BINDINGS,
    private readonly root = true,
  ) {
    this.webhook = withLevels(
      (capture: WebhookCapture) => captureWebhook(core, capture, bound),
      this.category('webhook'),
    );
    this.error = withLevels(
      (err: unknown, options?: ErrorLogOptions) => logError(core, err, options, bound),
      this.category('error'),
    );
  }

  get payment(): CategoryLogger {
    return this.category('payment');
  }
  get order(): CategoryLogger {
    return this.category('order');
  }
  get invoice(): CategoryLogger {
    return this.category('invoice');
  }
  get inventory(): CategoryLogger {
    return this.category('inventory');
  }
  get admin(): CategoryLogger {
    return this.category('admin');
  }
  get email(): CategoryLogger {
    return this.category('email');
  }
  get security(): CategoryLogger {
    return this.category('security');
  }
  get backup(): CategoryLogger {
    return this.category('backup');
  }
  get system(): CategoryLogger {
    return this.category('system');
  }

  category(name: string): CategoryLogger {
    let c = this.cache.get(name);
    if (!c) {
      if (!this.core.categories.has(name)) {
        throw new SafetynetError('E_LOG_CATEGORY', `unknown log category "${name}"`, {
          hint: `use one of: ${[...this.core.categories].join(', ')} (declare custom ones in logs.categories)`,
          exitCode: 2,
        });
      }
      c = new CategoryLoggerImpl(this.core, name, this.bound);
      this.cache.set(name, c);
    }
    return c;
  }

  child(bindings: ChildBindings): Logger {
    const details =
      bindings?.details === undefined
        ? this.bound.details
        : {
            ...(this.bound.details ?? {}),
            ...(toSafeJson(bindings.details, this.core.redactor) as Record<string, unknown>),
          };
    const orderId = orderIdText(bindings?.orderId, this.bound);
    return new SafetynetLogger(this.core, { orderId, details }, false);
  }

  flush(options?: { timeoutMs?: number }): Promise<FlushResult> {
    return this.core.sink.flush(options?.timeoutMs);
  }

  async close(): Promise<CloseReport> {
    // A child shares its parent's writer: closing it only flushes.
    if (!this.root) {
      const f = await this.flush();
      return { durable: f.durable, unsaved: f.pending, dropped: 0 };
    }
    return this.core.onClose();
  }

  get store(): LogStore {
    return this.core.store;
  }

  installProcessHandlers(options: ProcessHandlerOptions = {}): () => void {
    return installProcessHandlers(this, this.core, options);
  }
}

/**
 * Flushes until nothing is pending (entries logged while flushing are included), giving up after
 * one flush that could not make everything durable (each flush is itself bounded).
 */
async function flushAll(core: LoggerCore): Promise<void> {
  while (core.sink.pending() > 0) if (!(await core.sink.flush()).durable) return;
}

/** See Logger.installProcessHandlers. */
function installProcessHandlers(
  log: SafetynetLogger,
  core: LoggerCore,
  options: ProcessHandlerOptions,
): () => void {
  const timeoutMs = options.timeoutMs ?? 5000;
  const removers: (() => void)[] = [];
  if (options.uncaught !== false) {
    // The monitor runs just before Node reports the error and exits, and changes nothing about
    // that; the entry is written and flushed synchronously because nothing async runs after it.
    const monitor = (err: unknown, origin: string): void => {
      void logError(core, err, { level: 'critical', details: { origin } }, NO_BINDINGS);
      core.sink.flushSync(timeoutMs);
    };
    process.on('uncaughtExceptionMonitor', monitor);
    removers.push(() => process.off('uncaughtExceptionMonitor', monitor));
  }
  const signals = options.signals === false ? [] : (options.signals ?? ['SIGTERM', 'SIGINT']);
  for (const signal of signals) {
    const handler = (): void => {
      void log.system.info(`process received ${signal}; flushing logs`, {
        details: { signal, pid: process.pid },
      });
      const done = Promise.race([flushAll(core), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      void done.then(() => {
        // With no other listener, do what Node would have done: end the process by that signal.
        if (process.listenerCount(signal) === 1) {
          process.off(signal, handler);
          process.kill(process.pid, signal);
        }
      });
    };
    process.on(signal, handler);
    removers.push(() => process.off(signal, handler));
  }
  const uninstall = (): void => {
    for (const r of removers.splice(0)) r();
    core.handlers.delete(uninstall);
  };
  core.handlers.add(uninstall);
  return uninstall;
}
