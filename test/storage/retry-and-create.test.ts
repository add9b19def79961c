import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import {
  backoffDelay,
  createStorage,
  parseRepositoryUrl,
  retrying,
  type RetryEvent,
  type RetryPolicy,
} from '../../src/backup/storage/index.js';
import { closedPort } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';
import { storageError } from './conformance.js';

const transient = () => new StorageError('E_STORAGE_UNAVAILABLE', 'flaky', { transient: true });

describe('backoff', () => {
  it('full jitter: uniform in [0, min(max, base * 2^(n-1))]', () => {
    const top: RetryPolicy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.9999 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(top, n))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay({ ...top, random: () => 0 }, 5)).toBe(0);
    expect(backoffDelay({ ...top, random: () => 0.5 }, 2)).toBe(100);
  });

  it('retries transient errors only, sleeping the announced delays, and gives up after `attempts`', async () => {
    const slept: number[] = [];
    const events: RetryEvent[] = [];
    const policy: RetryPolicy = {
      attempts: 4,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 0.5,
      sleep: async (ms) => void slept.push(ms),
      onRetry: (e) => events.push(e),
    };
    let calls = 0;
    expect(
      await retrying(policy, 'get', 'k', async () => {
        if (++calls < 3) throw transient();
        return 'done';
      }),
    ).toBe('done');
    expect(slept).toEqual([50, 100]);
    expect(events.map((e) => [e.operation, e.key, e.attempt, e.delayMs])).toEqual([
      ['get', 'k', 1, 50],
      ['get', 'k', 2, 100],
    ]);

    calls = 0;
    await expect(
      retrying(policy, 'get', 'k', async () => {
        calls++;
        throw transient();
      }),
    ).rejects.toThrow('flaky');
    expect(calls).toBe(4);

    calls = 0;
    const permanent = new StorageError('E_STORAGE_AUTH', 'denied');
    await expect(
      retrying(policy, 'get', 'k', async () => {
        calls++;
        throw permanent;
      }),
    ).rejects.toBe(permanent);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      retrying(policy, 'get', 'k', async () => {
        calls++;
        throw new TypeError('a bug');
      }),
    ).rejects.toThrow(TypeError);
    expect(calls).toBe(1);
  });
});

describe('createStorage and repository URLs', () => {
  it('parses file:// and s3:// URLs', () => {
    expect(parseRepositoryUrl('file:///var/backups/shop')).toEqual({
      kind: 'local',
      path: '/var/backups/shop',
    });
    expect(parseRepositoryUrl('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseRepositoryUrl('s3://my-bucket/shop/prod/')).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: 'shop/prod',
    });
    expect(() => parseRepositoryUrl('s3://My_Bucket/x')).toThrow(/not a valid bucket name/);
    expect(() => parseRepositoryUrl('ftp://host/x')).toThrow(/unsupported/);
    expect(() => parseRepositoryUrl('file://relative')).toThrow(/absolute/);
    expect(parseRepositoryUrl('/srv/backups')).toEqual({ kind: 'local', path: '/srv/backups' });
    expect(() => parseRepositoryUrl('data/backups')).toThrow(/unsupported form/);
  });

  it('file:// gives local storage that works', async () => {
    const root = path.join(tempDir(), 'repo');
    const s = createStorage({ repository: 'file://' + root, s3: {} });
    expect(s.capabilities.local).toBe(true);
    expect(s.localPath).toBe(root);
    expect(s.url).toBe('file://' + root);
    await s.probe();
    await s.put('x', Buffer.from('1'));
    expect((await s.get('x')).toString()).toBe('1');
  });

  it('takes the endpoint from backup.s3.endpoint, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL', async () => {
    const [a, b, c] = [await closedPort(), await closedPort(), await closedPort()];
    const creds = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' };
    const endpointOf = async (s3: { endpoint?: string }, env: Record<string, string>) => {
      const s = createStorage(
        { repository: 's3://bucket-x/p', s3 },
        { ...creds, ...env },
        { retry: { attempts: 1 } },
      );
      expect(s.capabilities.local).toBe(false);
      const err = await storageError(s.probe(), 'E_STORAGE_UNREACHABLE');
      await s.close();
      return err.details?.endpoint;
    };
    const envBoth = {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${b}`,
      AWS_ENDPOINT_URL: `http://127.0.0.1:${c}`,
    };
    expect(await endpointOf({ endpoint: `http://127.0.0.1:${a}` }, envBoth)).toBe(`http://127.0.0.1:${a}`);
    expect(await endpointOf({}, envBoth)).toBe(`http://127.0.0.1:${b}`);
    expect(await endpointOf({}, { AWS_ENDPOINT_URL: `http://127.0.0.1:${c}` })).toBe(`http://127.0.0.1:${c}`);
  });

  it('no region anywhere is E_STORAGE_CONFIG; no credentials anywhere is E_STORAGE_AUTH (naming the settings)', async () => {
    // The SDK's chains read the process environment and ~/.aws: point them at nothing for this test.
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    Object.assign(process.env, {
      AWS_CONFIG_FILE: path.join(tempDir(), 'none'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(tempDir(), 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    try {
      const noRegion = createStorage(
        { repository: 's3://bucket-x/p', s3: {} },
        { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' },
      );
      const e1 = await storageError(noRegion.probe(), 'E_STORAGE_CONFIG');
      expect(e1.hint).toMatch(/backup\.s3\.region/);
      expect(e1.hint).toMatch(/AWS_REGION/);
      await noRegion.close();
      const noCreds = createStorage({ repository: 's3://bucket-x/p', s3: { region: 'eu-west-1' } }, {});
      const e2 = await storageError(noCreds.probe(), 'E_STORAGE_AUTH');
      expect(e2.message).toMatch(/no AWS credentials/);
      expect(e2.hint).toMatch(/AWS_ACCESS_KEY_ID/);
      expect(e2.hint).toMatch(/AWS_PROFILE/);
      await noCreds.close();
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(() => createStorage({ repository: 's3://bucket-x', s3: { endpoint: 'minio:9000' } }, {})).toThrow(
      /not an http\(s\) URL/,
    );
  });
});
