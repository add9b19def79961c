/**
 * Shared set-up of the S3 test files: one s3rver per file, a fresh key prefix per storage.
 */
import { afterAll, beforeAll } from 'vitest';
import { createStorage } from '../../src/backup/storage/index.js';
import type { Storage } from '../../src/backup/storage/types.js';
import { startS3Server, type S3TestServer } from '../helpers/s3.js';

export interface StorageViaOptions {
  prefix?: string;
  env?: Record<string, string>;
  retry?: Parameters<typeof createStorage>[2];
}

export const fastRetry = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

/** Starts s3rver for the calling test file (before its tests) and stops it after. */
export function useS3Server(): {
  server: () => S3TestServer;
  nextPrefix: () => string;
  /** A storage on the test server (or a proxy in front of it), under `opts.prefix` or a fresh prefix. */
  storageVia: (endpoint: string, opts?: StorageViaOptions) => Storage;
} {
  let server: S3TestServer | undefined;
  let counter = 0;
  beforeAll(async () => {
    server = await startS3Server({ bucket: 'safetynet-test' });
  });
  afterAll(async () => {
    await server?.close();
  });
  const current = () => {
    if (!server) throw new Error('s3rver not started');
    return server;
  };
  const nextPrefix = () => `t${++counter}`;
  return {
    server: current,
    nextPrefix,
    storageVia: (endpoint, opts = {}) => storageOn(current(), endpoint, opts.prefix ?? nextPrefix(), opts),
  };
}

/** A storage (via createStorage, with fast retries) on `endpoint` (s3rver or a proxy in front of it). */
export function storageOn(
  server: S3TestServer,
  endpoint: string,
  prefix: string,
  opts: { env?: Record<string, string>; retry?: Parameters<typeof createStorage>[2] } = {},
): Storage {
  const config = server.config(prefix);
  return createStorage({ ...config, s3: { ...config.s3, endpoint } }, opts.env ?? server.env, {
    retry: fastRetry,
    ...opts.retry,
  });
}
