/**
 * withRetries: a Storage decorator that retries transient failures (5xx, throttling, timeouts,
 * dropped connections) with exponential backoff and full jitter, and nothing else: a missing
 * object, bad credentials or a full disk fail at once.
 *
 * What is retried, and why:
 * - get, head, delete, probe, getStream (opening it): idempotent, retried as a whole.
 * - put with a Buffer body: replayable, retried as a whole. An ifAbsent put that lost its response
 *   may find its own first attempt already stored: on E_OBJECT_EXISTS after a failed attempt the
 *   stored bytes are compared with ours, and an identical object counts as success.
 * - put with a streamed body: cannot be replayed, so it is passed through once. The S3 backend
 *   retries each multipart part itself (parts are buffers) with the same policy.
 * - list: a listing interrupted by a transient error resumes after the last key it yielded.
 * - bytes already streamed by getStream are not re-fetched: a failure mid-stream reaches the
 *   caller (transient=true), which may read again.
 *
 * It logs nothing itself; callers observe retries through `onRetry`.
 */
import { StorageError } from '../../errors.js';
import { StorageCode, isTransient } from './errors.js';
import type {
  ByteRange,
  DeleteOptions,
  ListOptions,
  ObjectInfo,
  ProbeMode,
  PutBody,
  PutOptions,
  Storage,
  StorageCapabilities,
} from './types.js';

/** One retry about to happen. */
export interface RetryEvent {
  /** The storage operation: get, put, put-part, head, list, delete, probe, getStream. */
  operation: string;
  key?: string;
  /** The attempt that just failed (1 = the first try). */
  attempt: number;
  /** How long we wait before the next attempt. */
  delayMs: number;
  error: StorageError;
}

export interface RetryPolicy {
  /** Total attempts including the first; 1 disables retries. */
  attempts: number;
  /** Backoff ceiling for the first retry; doubles each attempt. */
  baseDelayMs: number;
  /** Upper bound of any single wait. */
  maxDelayMs: number;
  /** Injected for tests; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
  /** Called before each wait (log it, count it). */
  onRetry?: (event: RetryEvent) => void;
}

/** Defaults: 5 attempts, waits up to 0.2, 0.4, 0.8, 1.6 s (full jitter), about 3 s at worst. */
export const DEFAULT_RETRY_POLICY: Readonly<Omit<RetryPolicy, 'sleep' | 'random' | 'onRetry'>> = {
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
};

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The wait before retry number `retry` (1-based): full jitter, uniformly random in
 * [0, min(maxDelayMs, baseDelayMs * 2^(retry-1))]. Full jitter spreads out clients that failed
 * together (AWS architecture blog, "Exponential Backoff And Jitter").
 */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor((policy.random ?? Math.random)() * ceiling);
}

/**
 * Runs `fn`, retrying transient StorageErrors per `policy`. Non-transient errors and other
 * exceptions are thrown at once; after the last attempt the last error is thrown.
 */
export async function retrying<T>(
  policy: RetryPolicy,
  operation: string,
  key: string | undefined,
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  const attempts = Math.max(1, Math.floor(policy.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isTransient(err) || attempt >= attempts) throw err;
      const delayMs = backoffDelay(policy, attempt);
      policy.onRetry?.({ operation, ...(key === undefined ? {} : { key }), attempt, delayMs, error: err });
      await (policy.sleep ?? realSleep)(delayMs);
    }
  }
}

class RetryingStorage implements Storage {
  constructor(
    private readonly inner: Storage,
    private readonly policy: RetryPolicy,
  ) {}

  get url(): string {
    return this.inner.url;
  }
  get capabilities(): StorageCapabilities {
    return this.inner.capabilities;
  }
  get localPath(): string | undefined {
    return this.inner.localPath;
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<void> {
    if (!(body instanceof Uint8Array)) return this.inner.put(key, body, options);
    let failedBefore = false;
    return retrying(this.policy, 'put', key, async () => {
      try {
        await this.inner.put(key, body, options);
      } catch (err) {
        if (
          failedBefore &&
          options?.ifAbsent &&
          err instanceof StorageError &&
          err.code === StorageCode.objectExists
        ) {
          // Our earlier attempt may have landed and only its answer was lost.
          if (await this.holdsExactly(key, body)) return;
        }
        if (isTransient(err)) failedBefore = true;
        throw err;
      }
    });
  }

  get(key: string): Promise<Buffer> {
    return retrying(this.policy, 'get', key, () => this.inner.get(key));
  }

  getInto(key: string, dest: Uint8Array): Promise<number> {
    return retrying(this.policy, 'get', key, () => this.inner.getInto(key, dest));
  }

  getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    return retrying(this.policy, 'getStream', key, () => this.inner.getStream(key, range));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return retrying(this.policy, 'head', key, () => this.inner.head(key));
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let startAfter = options.startAfter;
    let failures = 0;
    const attempts = Math.max(1, Math.floor(this.policy.attempts));
    while (true) {
      try {
        for await (const info of this.inner.list(prefix, startAfter === undefined ? {} : { startAfter })) {
          startAfter = info.key;
          failures = 0; // Progress: a later hiccup gets a fresh budget.
          yield info;
        }
        return;
      } catch (err) {
        failures++;
        if (!isTransient(err) || failures >= attempts) throw err;
        const delayMs = backoffDelay(this.policy, failures);
        this.policy.onRetry?.({ operation: 'list', key: prefix, attempt: failures, delayMs, error: err });
        await (this.policy.sleep ?? realSleep)(delayMs);
      }
    }
  }

  delete(key: string, options?: DeleteOptions): Promise<void> {
    return retrying(this.policy, 'delete', key, () => this.inner.delete(key, options));
  }

  probe(mode?: ProbeMode): Promise<void> {
    return retrying(this.policy, 'probe', undefined, () => this.inner.probe(mode));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async holdsExactly(key: string, body: Uint8Array): Promise<boolean> {
    try {
      const stored = await this.inner.get(key);
      return Buffer.from(body.buffer, body.byteOffset, body.byteLength).equals(stored);
    } catch {
      return false;
    }
  }
}

/** Wraps `storage` so that transient failures are retried per `policy` (see the module comment). */
export function withRetries(storage: Storage, policy: Partial<RetryPolicy> = {}): Storage {
  return new RetryingStorage(storage, { ...DEFAULT_RETRY_POLICY, ...policy });
}
