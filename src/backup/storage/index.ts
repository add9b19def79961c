/** The storage layer: a dumb object store (local folder or S3-compatible bucket) plus retries. */
export type * from './types.js';
export { StorageCode, isTransient } from './errors.js';
export { LocalStorage, type LocalStorageOptions } from './local.js';
export { S3Storage, type S3StorageOptions, type S3Credentials } from './s3.js';
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
