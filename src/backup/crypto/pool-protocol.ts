/** Messages between SealPool and its workers, and the helpers both sides share. */
import { ConfigError, IntegrityError, SafetynetError } from '../../errors.js';

export interface WorkerInit {
  recipients: string[];
  /** Identity texts, passed in memory only (never written anywhere). */
  identities: string[];
  identitySources: (string | undefined)[];
  level: number;
}

export interface WorkerRequest {
  id: number;
  /**
   * openInto / sealInto: `out` (and for openInto `data`) are views of SharedArrayBuffers, read
   * and written in place; nothing is copied or moved.
   */
  op: 'seal' | 'open' | 'openInto' | 'sealInto';
  data: Uint8Array;
  out?: Uint8Array;
  name?: string;
  /** Skip the plaintext SHA-256 (returned as ''), for callers that hash their content themselves. */
  skipPlainHash?: boolean;
}

export type WorkerResponse =
  | {
      id: number;
      ok: true;
      data: Uint8Array;
      plainSha256: string;
      sealedSha256?: string;
      /** openInto: the plaintext's length (written at the start of `out`). */
      plainBytes?: number;
      /** sealInto: the sealed object's length at the start of `out`, or -1 if it did not fit. */
      sealedBytes?: number;
    }
  | { id: number; ok: false; error: SerializedError };

export interface SerializedError {
  kind: string;
  code?: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
  exitCode?: number;
}

/**
 * A view that can be transferred without copying: the buffer itself when it owns its whole
 * ArrayBuffer, else a copy (a small Buffer is a slice of Node's shared pool, whose other bytes
 * belong to someone else and must not be handed over or detached).
 */
export function transferable(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b;
  const copy = new Uint8Array(new ArrayBuffer(b.byteLength));
  copy.set(b);
  return copy;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof SafetynetError) {
    return {
      kind: err instanceof IntegrityError ? 'integrity' : err instanceof ConfigError ? 'config' : 'safetynet',
      code: err.code,
      message: err.message,
      ...(err.hint ? { hint: err.hint } : {}),
      ...(err.details ? { details: err.details } : {}),
      exitCode: err.exitCode,
    };
  }
  return { kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/** Rebuilds the error class on this side of the thread boundary, so callers can match on it. */
export function deserializeError(e: SerializedError): Error {
  const opts = {
    ...(e.hint ? { hint: e.hint } : {}),
    ...(e.details ? { details: e.details } : {}),
    ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
  };
  switch (e.kind) {
    case 'integrity':
      return new IntegrityError(e.code!, e.message, opts);
    case 'config':
      return new ConfigError(e.code!, e.message, opts);
    case 'safetynet':
      return new SafetynetError(e.code!, e.message, opts);
    default:
      return new Error(`seal worker failed: ${e.message}`);
  }
}
