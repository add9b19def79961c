/**
 * createStorage: from `backup.repository` (+ `backup.s3`) and the environment to a ready Storage,
 * wrapped in retries. `file://` → LocalStorage, `s3://bucket/prefix` → S3Storage.
 *
 * S3 settings, first match wins:
 * - endpoint: backup.s3.endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL (unset: AWS itself)
 * - region: backup.s3.region, AWS_REGION, AWS_DEFAULT_REGION, "us-east-1" when a custom endpoint
 *   is set (S3-compatible services rarely care), else the SDK's chain (~/.aws/config, AWS_PROFILE)
 * - credentials: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) from `env`, else
 *   the SDK's default chain (AWS_PROFILE / ~/.aws/credentials, SSO, web identity, instance role)
 * - path-style addressing: backup.s3.forcePathStyle, default true with a custom endpoint
 */
import * as path from 'node:path';
import { StorageError } from '../../errors.js';
import type { BackupConfig } from '../../config/types.js';
import { StorageCode } from './errors.js';
import { LocalStorage, type LocalStorageOptions } from './local.js';
import { withRetries, type RetryPolicy } from './retry.js';
import type { S3StorageOptions } from './s3.js';
import { LazyStorage } from './lazy.js';
import type { Storage } from './types.js';

export interface CreateStorageOptions {
  /** Retry policy for the decorator (and for the parts of streamed S3 uploads). */
  retry?: Partial<RetryPolicy>;
  /** Extra S3 settings (timeouts, part size...); mostly for tests and benchmarks. */
  s3?: Partial<S3StorageOptions>;
  local?: LocalStorageOptions;
}

/** The parts of a repository URL. */
export type RepositoryLocation =
  { kind: 'local'; path: string } | { kind: 's3'; bucket: string; prefix: string };

/**
 * Parses a repository URL as normalised by the config loader: `file:///abs/path` (the path is
 * taken verbatim, not percent-decoded), an absolute path, or `s3://bucket[/prefix]`.
 */
export function parseRepositoryUrl(url: string): RepositoryLocation {
  if (url.startsWith('file://')) {
    const p = url.slice('file://'.length);
    if (!path.isAbsolute(p)) {
      throw new StorageError(StorageCode.config, `repository URL "${url}" does not name an absolute path`, {
        hint: 'set backup.repository to a folder path or file:///absolute/path',
      });
    }
    return { kind: 'local', path: p };
  }
  if (path.isAbsolute(url)) return { kind: 'local', path: url };
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (m) {
    const bucket = m[1] ?? '';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new StorageError(StorageCode.config, `"${bucket}" in "${url}" is not a valid bucket name`, {
        hint: 'use s3://bucket/prefix with a bucket name of 3-63 lower-case letters, digits, dots and hyphens',
      });
    }
    return { kind: 's3', bucket, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
  }
  throw new StorageError(StorageCode.config, `repository URL "${url}" has an unsupported form`, {
    hint: 'set backup.repository to a folder path, file:///path or s3://bucket/prefix (relative paths are resolved by the config loader)',
  });
}

/** Builds the storage for `config.repository`, wrapped in retries with the given policy. */
export function createStorage(
  config: Pick<BackupConfig, 'repository' | 's3'>,
  env: NodeJS.ProcessEnv = process.env,
  options: CreateStorageOptions = {},
): Storage {
  const location = parseRepositoryUrl(config.repository);
  if (location.kind === 'local') {
    return withRetries(new LocalStorage(location.path, options.local), options.retry);
  }
  // Options are checked now (a bad endpoint is a config error at once); the SDK loads on first use.
  const s3 = s3Options(location, config.s3, env, options);
  const url = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  const storage = new LazyStorage(url, async () => new (await import('./s3.js')).S3Storage(s3));
  return withRetries(storage, options.retry);
}

function s3Options(
  location: { bucket: string; prefix: string },
  s3: BackupConfig['s3'],
  env: NodeJS.ProcessEnv,
  options: CreateStorageOptions,
): S3StorageOptions {
  const endpoint = s3.endpoint ?? nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/i.test(endpoint)) {
    throw new StorageError(StorageCode.config, `S3 endpoint "${endpoint}" is not an http(s) URL`, {
      hint: 'set backup.s3.endpoint (or AWS_ENDPOINT_URL) to e.g. https://s3.example.com or http://127.0.0.1:9000',
    });
  }
  const region =
    s3.region ??
    nonEmpty(env.AWS_REGION) ??
    nonEmpty(env.AWS_DEFAULT_REGION) ??
    (endpoint !== undefined ? 'us-east-1' : undefined);
  const keyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secret = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if ((keyId === undefined) !== (secret === undefined)) {
    const [set, unset] = keyId
      ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']
      : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'];
    throw new StorageError(StorageCode.config, `${set} is set but ${unset} is not`, {
      hint: `set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (to use AWS_PROFILE or an instance role)`,
    });
  }
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  return {
    bucket: location.bucket,
    prefix: location.prefix,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(s3.forcePathStyle !== undefined ? { forcePathStyle: s3.forcePathStyle } : {}),
    ...(keyId && secret
      ? {
          credentials: {
            accessKeyId: keyId,
            secretAccessKey: secret,
            ...(sessionToken ? { sessionToken } : {}),
          },
        }
      : {}),
    ...(options.retry ? { partRetry: options.retry } : {}),
    ...options.s3,
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}
