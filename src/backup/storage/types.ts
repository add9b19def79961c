/**
 * The storage contract: a dumb object store. It knows keys and bytes, nothing about snapshots,
 * encryption or chunks. Every implementation (local folder, S3-compatible bucket) passes the same
 * conformance suite in test/storage/.
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
  /** `put(..., { ifAbsent: true })` is atomic create-if-absent (local: link/O_EXCL; S3: If-None-Match where supported). */
  atomicCreate: boolean;
  /** The repository is a folder on this machine (its path is `localPath`). */
  local: boolean;
}

export interface PutOptions {
  /** Fail with E_OBJECT_EXISTS if the key already exists (atomic when `capabilities.atomicCreate`). */
  ifAbsent?: boolean;
  /** Total size when known in advance (lets S3 choose single-part vs multipart). */
  size?: number;
}

/** Body of a put: a whole buffer, or a stream of buffers for large objects (never held whole). */
export type PutBody = Uint8Array | AsyncIterable<Uint8Array>;

export interface Storage {
  /** Human-readable location, e.g. "file:///var/backups/shop" or "s3://bucket/prefix". */
  readonly url: string;
  readonly capabilities: StorageCapabilities;
  /** Absolute folder path for local storage (used to warn when backups share the database's disk). */
  readonly localPath?: string;

  /**
   * Stores an object. Readers see either the whole new object or nothing (local: temp + fsync +
   * rename; S3: single PUT or completed multipart upload). Overwrites unless `ifAbsent`.
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<void>;
  /** Reads a whole object. Missing → StorageError code E_OBJECT_MISSING. */
  get(key: string): Promise<Buffer>;
  /** Streams an object, optionally a byte range [start, end] inclusive. Missing → E_OBJECT_MISSING. */
  getStream(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Buffer>>;
  /** Size and time of an object, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in lexicographic key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes an object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Checks the storage is reachable and writable enough to use; throws a StorageError with a hint if not. */
  probe(): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
