/**
 * Audit entries of the admin panel. Every admin action is an `admin` entry and every suspicious
 * event a `security` entry, each with the PCI DSS 10.2 fields in `details`: who (`actor`), what
 * (`action`, `target`), when (the entry's own timestamp), where from (`origin`), and the `outcome`.
 * Passwords, session ids and CSRF tokens are never passed here.
 */
import type { Level, Logger } from '../log/types.js';

/** The part of the logger the panel writes to (a full Logger fits); `error` records unexpected failures. */
export type AuditLogger = Pick<Logger, 'admin' | 'security'> & { error?: Logger['error'] };

export type Outcome = 'success' | 'failure' | 'denied' | 'started';

export interface AuditEvent {
  /** The admin user, or the name tried for a failed login; null when unknown. */
  actor: string | null;
  /** What was done, e.g. "login", "logs.search", "logs.export", "user.add". */
  action: string;
  outcome: Outcome;
  /** Client address, or "cli:<os user>" for the command line. */
  origin: string;
  /** What was acted on (a user name, a filter, an entry id …). */
  target?: unknown;
  /** Why it failed, in a few words. */
  reason?: string;
  [extra: string]: unknown;
}

/** Text that came from a client, made fit for a message: no control characters, bounded length. */
export function clientText(text: string, max = 100): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\uFFFD');
  return clean.length > max ? clean.slice(0, max) + '…' : clean;
}

async function write(
  logger: AuditLogger,
  category: 'admin' | 'security',
  level: Level,
  message: string,
  event: AuditEvent,
): Promise<void> {
  const details = Object.fromEntries(Object.entries(event).filter(([, v]) => v !== undefined));
  try {
    // Awaited: the entry is durable before the response goes out (the logger never rejects).
    await logger[category][level](message, { details });
  } catch {
    // An audit write that throws must not turn a page into a 500; the logger spools on its own.
  }
}

/** Writes an `admin` entry (info, or warn for a failed action). */
export function auditAdmin(logger: AuditLogger, message: string, event: AuditEvent): Promise<void> {
  return write(logger, 'admin', event.outcome === 'failure' ? 'warn' : 'info', message, event);
}

/** Writes a `security` entry at `level`. */
export function auditSecurity(
  logger: AuditLogger,
  level: Level,
  message: string,
  event: AuditEvent,
): Promise<void> {
  return write(logger, 'security', level, message, event);
}
