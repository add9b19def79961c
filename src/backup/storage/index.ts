/** The storage layer: a dumb object store (local folder or S3-compatible bucket) plus retries. */
export type * from './types.js';
export { StorageCode, isTransient } from './errors.js';
export { LocalStorage, type LocalStorageOptions } from './local.js';
// S3Storage itself is imported from './s3.js' where needed: re-exporting it here would load the
// AWS SDK (~90 ms) for every importer of this index, local repositories included (see lazy.ts).
export type { S3StorageOptions, S3Credentials } from './s3.js';
export { LazyStorage } from './lazy.js';
export {
  withRetries,
  retrying,
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type RetryEvent,
} from './retry.js';
export {
  createStorage,
  parseRepositoryUrl,
  type CreateStorageOptions,
  type RepositoryLocation,
} from './create.js';
