/**
 * Typed errors with stable codes.
 *
 * Every error a user can cause (bad config, bad flag, missing key, unreachable storage) is a
 * SafetynetError: a stable `code` scripts can match on, a message that says what was wrong, and a
 * `hint` that says how to fix it (naming the config field, flag or value). The CLI prints these as
 * one line plus the hint, never a stack trace.
 */

/** Exit codes used by the CLI. */
export const ExitCode = {
  ok: 0,
  /** A check failed (verify found damage, status has warnings, restore test failed). */
  failure: 1,
  /** The user asked for something invalid: bad flag, bad value, bad config. */
  usage: 2,
  /** The environment failed: storage unreachable, disk full, lock held. */
  environment: 3,
} as const;

export interface SafetynetErrorOptions {
  /** How to fix it: the field, flag or value to change. */
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts (printed with --json). */
  details?: Record<string, unknown>;
  exitCode?: number;
}

/** Base class of every error safetynet raises on purpose. */
export class SafetynetError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly exitCode: number;

  constructor(code: string, message: string, options: SafetynetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
    this.exitCode = options.exitCode ?? ExitCode.environment;
  }

  /** A plain object for `--json` output. */
  toJSON(): Record<string, unknown> {
    return {
      error: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** The configuration file (or environment) holds a value that is not allowed. */
export class ConfigError extends SafetynetError {
  constructor(code: string, message: string, options: SafetynetErrorOptions = {}) {
    super(code, message, { exitCode: ExitCode.usage, ...options });
  }
}

/** A command-line flag or argument is invalid. */
export class UsageError extends SafetynetError {
  constructor(code: string, message: string, options: SafetynetErrorOptions = {}) {
    super(code, message, { exitCode: ExitCode.usage, ...options });
  }
}

/** Stored data failed a check: a checksum mismatch, a broken hash chain, a corrupt object. */
export class IntegrityError extends SafetynetError {
  constructor(code: string, message: string, options: SafetynetErrorOptions = {}) {
    super(code, message, { exitCode: ExitCode.failure, ...options });
  }
}

/** Storage (local folder or bucket) could not be reached or refused an operation. */
export class StorageError extends SafetynetError {
  /** True when retrying the same request may succeed (5xx, throttling, timeouts, resets). */
  readonly transient: boolean;
  constructor(code: string, message: string, options: SafetynetErrorOptions & { transient?: boolean } = {}) {
    super(code, message, options);
    this.transient = options.transient ?? false;
  }
}

/** Another run holds the repository lock. */
export class LockError extends SafetynetError {}

/** True when `err` is a SafetynetError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof SafetynetError && err.code === code;
}

/** Node's errno-style error, narrowed. */
export function isErrno(err: unknown, code?: string): err is NodeJS.ErrnoException {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (err as NodeJS.ErrnoException).code === code)
  );
}
