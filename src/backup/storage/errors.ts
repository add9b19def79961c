/**
 * The storage layer's error codes and the few constructors every backend shares, so that the same
 * fault reads the same way (and carries the same code) whether the repository is a folder or a bucket.
 */
import { StorageError } from '../../errors.js';

/** Stable codes raised by the storage layer. Scripts and callers match on these. */
export const StorageCode = {
  /** The object does not exist. */
  objectMissing: 'E_OBJECT_MISSING',
  /** `put(..., { ifAbsent: true })` found the key taken. */
  objectExists: 'E_OBJECT_EXISTS',
  /** A ranged read started at or past the end of the object. */
  rangeNotSatisfiable: 'E_RANGE_NOT_SATISFIABLE',
  /** The key (or list prefix) is not a valid storage key. A bug in the caller, not the user's fault. */
  badKey: 'E_STORAGE_BAD_KEY',
  /** A byte range is malformed (negative, end before start). A bug in the caller. */
  badRange: 'E_STORAGE_BAD_RANGE',
  /** A put's body did not have the length announced in `size`. */
  sizeMismatch: 'E_STORAGE_SIZE_MISMATCH',
  /** The disk (or quota) is full. */
  noSpace: 'E_NO_SPACE',
  /** The operating system refused access (permissions, read-only file system). */
  permission: 'E_STORAGE_PERMISSION',
  /** The local repository folder does not exist. */
  noFolder: 'E_STORAGE_NO_FOLDER',
  /** A local key collides with a folder of the same name (or a file sits where a folder should). */
  keyConflict: 'E_STORAGE_KEY_CONFLICT',
  /** Other local I/O failure (EIO, ...). */
  io: 'E_STORAGE_IO',
  /** The endpoint could not be reached: connection refused, unknown host, connect timeout. */
  unreachable: 'E_STORAGE_UNREACHABLE',
  /** Missing, unknown or insufficient credentials. */
  auth: 'E_STORAGE_AUTH',
  /** The bucket does not exist. */
  noBucket: 'E_STORAGE_NO_BUCKET',
  /** The server failed or throttled (5xx, SlowDown) or dropped the connection: usually passes. */
  unavailable: 'E_STORAGE_UNAVAILABLE',
  /** A request or socket timed out. */
  timeout: 'E_STORAGE_TIMEOUT',
  /** The storage settings are wrong (URL, region, endpoint, half-set credentials). */
  config: 'E_STORAGE_CONFIG',
  /** The server does not implement something we asked for. */
  unsupported: 'E_STORAGE_UNSUPPORTED',
  /** Anything else the server refused (with its status and code in details). */
  failed: 'E_STORAGE_FAILED',
} as const;

export type StorageCodeValue = (typeof StorageCode)[keyof typeof StorageCode];

/** E_OBJECT_MISSING for `key` in the repository at `url`. */
export function objectMissing(url: string, key: string, cause?: unknown): StorageError {
  return new StorageError(StorageCode.objectMissing, `object "${key}" does not exist in ${url}`, {
    hint: 'the repository may be incomplete or damaged: run `safetynet verify` to see which restore points are affected',
    details: { key, repository: url },
    cause,
  });
}

/** E_OBJECT_EXISTS for an ifAbsent put that found the key taken. */
export function objectExists(url: string, key: string, cause?: unknown): StorageError {
  return new StorageError(StorageCode.objectExists, `object "${key}" already exists in ${url}`, {
    hint: 'another run may be writing the same object; it was left untouched',
    details: { key, repository: url },
    cause,
  });
}

/** E_RANGE_NOT_SATISFIABLE: a ranged read starting at or past the end of the object. */
export function rangeNotSatisfiable(url: string, key: string, start: number, size?: number): StorageError {
  const sizeText = size === undefined ? '' : ` (it is ${size} bytes long)`;
  return new StorageError(
    StorageCode.rangeNotSatisfiable,
    `cannot read object "${key}" in ${url} from byte ${start}: that is past its end${sizeText}`,
    {
      hint: 'the object is shorter than expected (truncated?): run `safetynet verify --read-data`',
      details: { key, repository: url, start, ...(size === undefined ? {} : { size }) },
    },
  );
}

/** E_STORAGE_SIZE_MISMATCH: the body's length differs from `options.size`. */
export function sizeMismatch(url: string, key: string, expected: number, actual: number): StorageError {
  return new StorageError(
    StorageCode.sizeMismatch,
    `object "${key}" for ${url}: the body was ${actual} bytes but ${expected} were announced; nothing was stored`,
    { details: { key, repository: url, expected, actual } },
  );
}

/** Throws E_STORAGE_BAD_RANGE unless `range` is whole numbers with 0 <= start <= end. */
export function assertValidRange(range: { start: number; end: number }): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new StorageError(StorageCode.badRange, `invalid byte range ${JSON.stringify(range)}`, {
      hint: 'this is a bug in the caller: a range needs whole numbers with 0 <= start <= end (end inclusive)',
      details: { start, end },
    });
  }
}

/** True when `err` is a StorageError worth retrying. */
export function isTransient(err: unknown): err is StorageError {
  return err instanceof StorageError && err.transient;
}
