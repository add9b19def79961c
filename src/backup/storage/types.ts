/**
 * The storage contract: a dumb object store. It knows keys and bytes, nothing about snapshots,
 * encryption or chunks. Every implementation (local folder, S3-compatible bucket) passes the same
 * conformance suite in test/storage/.
 *
 * Keys are "/"-separated relative paths ("data/ab/abcdef…"): no empty segment, no "." or "..",
 * no segment starting with "." (that namespace is reserved for the backends' own temporary and
 * probe objects, which `list` never shows), no backslash or control character, at most 1024 bytes.
 * A key may not be both an object and a "folder" of other keys on local storage ("a" and "a/b").
 *
 * Errors are StorageErrors with stable codes (see src/backup/storage/errors.ts):
 * E_OBJECT_MISSING, E_OBJECT_EXISTS, E_RANGE_NOT_SATISFIABLE, E_NO_SPACE, E_STORAGE_PERMISSION,
 * E_STORAGE_NO_FOLDER, E_STORAGE_UNREACHABLE, E_STORAGE_AUTH, E_STORAGE_NO_BUCKET,
 * E_STORAGE_UNAVAILABLE, E_STORAGE_TIMEOUT, ... `transient` says whether retrying may help.
 */

/** One stored object as listed. */
export interface ObjectInfo {
  /** Key relative to the repository root, "/"-separated, e.g. "data/ab/abcdef…". */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time (ms since epoch), when the backend knows it. */
  lastModified?: number;
}

/** What a backend can promise beyond the basics; callers branch on these, never on the backend's kind. */
export interface StorageCapabilities {
  /**
   * `put(..., { ifAbsent: true })` is atomic create-if-absent: of several concurrent writers exactly
   * one succeeds (local: link(2) of a finished temp file; S3: `If-None-Match: *`, once `probe('write')`
   * has seen the server honour it). When false, ifAbsent is a check-then-write: it still refuses an
   * object that already exists, but two writers racing may both "win".
   */
  atomicCreate: boolean;
  /** The repository is a folder on this machine (its path is `localPath`). */
  local: boolean;
}

export interface PutOptions {
  /** Fail with E_OBJECT_EXISTS if the key already exists (atomic when `capabilities.atomicCreate`). */
  ifAbsent?: boolean;
  /**
   * Total size when known in advance. Lets S3 pick its part size; when given, a body of any other
   * length is refused (E_STORAGE_SIZE_MISMATCH) and nothing is stored.
   */
  size?: number;
}

/** Body of a put: a whole buffer, or a stream of buffers for large objects (never held whole). */
export type PutBody = Uint8Array | AsyncIterable<Uint8Array>;

/** A byte range, both ends inclusive (as in HTTP). */
export interface DeleteOptions {
  durable?: boolean;
}

export interface ByteRange {
  start: number;
  /** Inclusive; clamped to the object's last byte (a range may run past the end, like HTTP). */
  end: number;
}

export interface ListOptions {
  /** Only keys strictly greater than this one (lets a caller resume an interrupted listing). */
  startAfter?: string;
}

/** How thoroughly `probe` checks: `read` for restore/verify, `write` (default) for backup and prune. */
export type ProbeMode = 'read' | 'write';

export interface Storage {
  /** Human-readable location, e.g. "file:///var/backups/shop" or "s3://bucket/prefix". */
  readonly url: string;
  readonly capabilities: StorageCapabilities;
  /** Absolute folder path for local storage (used to warn when backups share the database's disk). */
  readonly localPath?: string;

  /**
   * Stores an object. Readers see either the whole new object or nothing (local: temp + fsync +
   * rename; S3: single PUT or completed multipart upload). Overwrites unless `ifAbsent`.
   * If the body (an iterable) throws, that error is rethrown unchanged and nothing is stored.
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<void>;
  /** Reads a whole object. Missing → StorageError code E_OBJECT_MISSING. */
  get(key: string): Promise<Buffer>;
  /**
   * Reads a whole object into the start of `dest` (memory the caller reuses, so a restore does not
   * allocate fresh buffers per object) and resolves to the object's size. When the object is larger
   * than `dest`, the size is still returned and `dest` holds an unspecified prefix: callers compare
   * the size with what they expected before using the bytes. Missing → E_OBJECT_MISSING.
   */
  getInto(key: string, dest: Uint8Array): Promise<number>;
  /**
   * Streams an object, optionally a byte range (inclusive, end clamped to the object's size).
   * Missing → E_OBJECT_MISSING; a start at or past the end → E_RANGE_NOT_SATISFIABLE.
   * Consume the stream (or break out of the loop) so the connection or file is released.
   */
  getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>>;
  /** Size and time of an object, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in byte-wise (UTF-8) lexicographic key order. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /**
   * Removes an object; removing a missing object is not an error. `durable`: the removal survives
   * a power cut once this resolves (local: the folder is fsynced; S3: always).
   */
  delete(key: string, options?: DeleteOptions): Promise<void>;
  /**
   * Checks the storage is reachable and usable; throws a StorageError with a hint if not.
   * `write` (the default) also creates a missing local repository folder, proves a write, and
   * (S3) detects whether the server honours conditional writes (see `capabilities.atomicCreate`).
   */
  probe(mode?: ProbeMode): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
