import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, type RetryEvent } from '../../src/backup/storage/index.js';
import { StorageError } from '../../src/errors.js';
import {
  closedPort,
  startFaultProxy,
  type FaultAction,
  type FaultProxy,
  type FaultRequest,
  type S3TestServer,
} from '../helpers/s3.js';
import { asAsync, collect, listAll, parallel, pseudoRandomChunks, storageError } from './conformance.js';
import { fastRetry, useS3Server } from './s3-setup.js';

const s3 = useS3Server();
let server: S3TestServer;
beforeAll(() => {
  server = s3.server();
});

const storageVia = s3.storageVia;

describe('S3 faults', () => {
  let proxy: FaultProxy | undefined;
  const withProxy = async (decide: (req: FaultRequest) => FaultAction) => {
    proxy = await startFaultProxy(server.endpoint, decide);
    return proxy;
  };
  const closeProxy = async () => {
    await proxy?.close();
    proxy = undefined;
  };

  it('an endpoint with nothing listening is E_STORAGE_UNREACHABLE quickly, naming the endpoint', async () => {
    const port = await closedPort();
    const retries: RetryEvent[] = [];
    const s = storageVia(`http://127.0.0.1:${port}`, {
      retry: { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20, onRetry: (e) => retries.push(e) } },
    });
    const t0 = Date.now();
    const err = await storageError(s.probe(), 'E_STORAGE_UNREACHABLE');
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.hint).toMatch(/backup\.s3\.endpoint/);
    expect(err.transient).toBe(true);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]); // bounded: 3 attempts, then the error
    await storageError(s.get('x'), 'E_STORAGE_UNREACHABLE');
    await s.close();
  });

  it('a host name that does not resolve is E_STORAGE_UNREACHABLE', async () => {
    const s = storageVia('http://no-such-host.invalid:9000', { retry: { retry: { attempts: 1 } } });
    const err = await storageError(s.head('x'), 'E_STORAGE_UNREACHABLE');
    expect(err.message).toContain('no-such-host.invalid');
    await s.close();
  });

  it('an unknown access key is E_STORAGE_AUTH naming the environment variables, without retries', async () => {
    const retries: RetryEvent[] = [];
    const s = storageVia(server.endpoint, {
      env: { ...server.env, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' },
      retry: { retry: { ...fastRetry, onRetry: (e) => retries.push(e) } },
    });
    const err = await storageError(s.probe(), 'E_STORAGE_AUTH');
    expect(err.message).toMatch(/access key id is not known/);
    expect(err.hint).toContain('AWS_ACCESS_KEY_ID');
    expect(err.hint).toContain('AWS_SECRET_ACCESS_KEY');
    await storageError(s.put('x', Buffer.from('x')), 'E_STORAGE_AUTH');
    expect(retries).toEqual([]);
    await s.close();
  });

  it('half-set credentials are a configuration error', () => {
    const config = server.config('x');
    expect(() => createStorage(config, { AWS_ACCESS_KEY_ID: 'S3RVER' })).toThrow(
      /AWS_SECRET_ACCESS_KEY is not/,
    );
  });

  it('a missing bucket is E_STORAGE_NO_BUCKET with a hint to create it, for probe, put, list and head', async () => {
    const config = { ...server.config('p'), repository: 's3://no-such-bucket/p' };
    const s = createStorage(config, server.env, { retry: fastRetry });
    const err = await storageError(s.probe(), 'E_STORAGE_NO_BUCKET');
    expect(err.message).toContain('no-such-bucket');
    expect(err.hint).toContain('aws s3 mb s3://no-such-bucket');
    await storageError(s.put('x', Buffer.from('x')), 'E_STORAGE_NO_BUCKET');
    await storageError(listAll(s, ''), 'E_STORAGE_NO_BUCKET');
    await storageError(s.head('x'), 'E_STORAGE_NO_BUCKET'); // a bare HEAD 404 is double-checked
    await s.close();
  });

  it('retries 503 SlowDown and 500 answers from a real proxy, then succeeds', async () => {
    const seed = storageVia(server.endpoint, { prefix: 'retry503' });
    await seed.put('obj', Buffer.from('payload'));
    await seed.close();
    const p = await withProxy(({ index }) =>
      index === 0
        ? { status: 503, code: 'SlowDown' }
        : index === 1
          ? { status: 500, code: 'InternalError' }
          : 'pass',
    );
    const retries: RetryEvent[] = [];
    const s = storageVia(p.endpoint, {
      prefix: 'retry503',
      retry: { retry: { ...fastRetry, onRetry: (e) => retries.push(e) } },
    });
    try {
      expect((await s.get('obj')).toString()).toBe('payload');
      expect(p.log.map((r) => r.action)).toEqual(['503', '500', 'pass']);
      expect(retries.map((r) => [r.operation, r.key, r.attempt, r.error.code])).toEqual([
        ['get', 'obj', 1, 'E_STORAGE_UNAVAILABLE'],
        ['get', 'obj', 2, 'E_STORAGE_UNAVAILABLE'],
      ]);
      expect(retries.every((r) => r.delayMs >= 0 && r.delayMs <= fastRetry.maxDelayMs)).toBe(true);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('gives up after `attempts` with a transient E_STORAGE_UNAVAILABLE', async () => {
    const p = await withProxy(() => ({ status: 503, code: 'ServiceUnavailable' }));
    const s = storageVia(p.endpoint, { retry: { retry: { ...fastRetry, attempts: 3 } } });
    try {
      const err = await storageError(s.put('x', Buffer.from('x')), 'E_STORAGE_UNAVAILABLE');
      expect(err.transient).toBe(true);
      expect(p.log).toHaveLength(3);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('does not retry what cannot pass (403)', async () => {
    const p = await withProxy(() => ({ status: 403, code: 'AccessDenied' }));
    const s = storageVia(p.endpoint);
    try {
      await storageError(s.get('x'), 'E_STORAGE_AUTH');
      expect(p.log).toHaveLength(1);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('retries a dropped connection, for reads and buffered writes', async () => {
    const p = await withProxy(({ index }) => (index === 0 || index === 2 ? 'drop' : 'pass'));
    const s = storageVia(p.endpoint);
    try {
      await s.put('obj', Buffer.from('survives'));
      expect((await s.get('obj')).toString()).toBe('survives');
      expect(p.log.map((r) => r.action)).toEqual(['drop', 'pass', 'drop', 'pass']);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('an idle socket times out as a transient E_STORAGE_TIMEOUT', async () => {
    const p = await withProxy(({ index }) => (index === 0 ? 'hang' : 'pass'));
    const config = server.config(s3.nextPrefix());
    const s = createStorage({ ...config, s3: { ...config.s3, endpoint: p.endpoint } }, server.env, {
      retry: { attempts: 1 },
      s3: { socketTimeoutMs: 300 },
    });
    try {
      const t0 = Date.now();
      const err = await storageError(s.head('x'), 'E_STORAGE_TIMEOUT');
      expect(err.transient).toBe(true);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('an ifAbsent put whose answer was lost is recognised as our own on retry', async () => {
    const p = await withProxy(({ method, index }) =>
      method === 'PUT' && index <= 2 ? 'drop-response' : 'pass',
    );
    const s = storageVia(p.endpoint);
    try {
      await s.put('lock', Buffer.from('mine'), { ifAbsent: true });
      expect((await s.get('lock')).toString()).toBe('mine');
      expect(p.log.map((r) => `${r.method} ${r.action}`)).toContain('PUT drop-response');
      // Someone else's object is still refused.
      await storageError(s.put('lock', Buffer.from('theirs'), { ifAbsent: true }), 'E_OBJECT_EXISTS');
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('a streamed put goes up as a multipart upload; a small buffer as one PUT', async () => {
    const p = await withProxy(() => 'pass');
    const s = storageVia(p.endpoint);
    try {
      const total = 20 * 1024 * 1024;
      await s.put('big', asAsync(pseudoRandomChunks(total, 1 << 20, 3)));
      const methods = p.log.map((r) => `${r.method} ${r.url.replace(/uploadId=[^&]+/, 'uploadId=…')}`);
      expect(methods.some((m) => m.startsWith('POST') && m.includes('uploads'))).toBe(true);
      expect(methods.filter((m) => m.includes('partNumber='))).toHaveLength(2); // 16 MiB + 4 MiB
      expect(methods.some((m) => m.startsWith('POST') && m.includes('uploadId='))).toBe(true);
      expect((await s.get('big')).equals(Buffer.concat([...pseudoRandomChunks(total, 1 << 20, 3)]))).toBe(
        true,
      );
      p.log.length = 0;
      await s.put('small', Buffer.from('one request'));
      expect(p.log.map((r) => r.method)).toEqual(['PUT']);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('retries a failed part of a streamed multipart upload (the stream itself is not replayed)', async () => {
    let failedPart = false;
    const p = await withProxy(({ url }) => {
      if (!failedPart && url.includes('partNumber=2')) {
        failedPart = true;
        return { status: 503, code: 'SlowDown' };
      }
      return 'pass';
    });
    const retries: RetryEvent[] = [];
    const s = storageVia(p.endpoint, { retry: { retry: { ...fastRetry, onRetry: (e) => retries.push(e) } } });
    try {
      const total = 18 * 1024 * 1024 + 5;
      await s.put('big', asAsync(pseudoRandomChunks(total, 999_999, 9)));
      expect(retries.map((r) => [r.operation, r.key, r.attempt])).toEqual([['put-part', 'big', 1]]);
      expect((await s.get('big')).equals(Buffer.concat([...pseudoRandomChunks(total, 999_999, 9)]))).toBe(
        true,
      );
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('a streamed upload whose part keeps failing stops reading, is aborted and leaves no object', async () => {
    const p = await withProxy(({ url }) =>
      url.includes('partNumber=2') ? { status: 500, code: 'InternalError' } : 'pass',
    );
    const config = server.config(s3.nextPrefix());
    const s = createStorage({ ...config, s3: { ...config.s3, endpoint: p.endpoint } }, server.env, {
      retry: { ...fastRetry, attempts: 2 },
      s3: { uploadConcurrency: 2 }, // the other uploader must stop too, not read on to the end
    });
    try {
      let released = false;
      let produced = 0;
      async function* body() {
        try {
          for (const chunk of pseudoRandomChunks(128 * 1024 * 1024, 1 << 20, 1)) {
            produced += chunk.length;
            yield chunk;
          }
        } finally {
          released = true; // the producer is told to stop, not left suspended
        }
      }
      const err = await storageError(s.put('big', body()), 'E_STORAGE_UNAVAILABLE');
      expect(err.transient).toBe(true);
      expect(err.message).toContain('"big"');
      expect(released).toBe(true);
      // 16 MiB parts: part 2 fails twice while the other uploader is on part 1 or 3; nothing after.
      expect(produced).toBeLessThanOrEqual(80 * 1024 * 1024);
      expect(p.log.filter((r) => r.url.includes('partNumber=2'))).toHaveLength(2);
      expect(p.log.some((r) => /partNumber=[5-8]\b/.test(r.url))).toBe(false);
      expect(p.log.some((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toBe(true);
      expect(await s.head('big')).toBeUndefined();
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('a listing interrupted by a 503 resumes after the last key, without duplicates', async () => {
    const prefix = s3.nextPrefix();
    const seed = storageVia(server.endpoint, { prefix });
    const keys = Array.from({ length: 250 }, (_, i) => `k/${String(i).padStart(3, '0')}`);
    await parallel(keys, 16, (k) => seed.put(k, Buffer.from(k)));
    await seed.close();
    let lists = 0;
    const p = await withProxy(({ url }) =>
      url.includes('list-type=2') && ++lists === 2 ? { status: 503, code: 'SlowDown' } : 'pass',
    );
    const config = server.config(prefix);
    const retries: RetryEvent[] = [];
    const s = createStorage({ ...config, s3: { ...config.s3, endpoint: p.endpoint } }, server.env, {
      retry: { ...fastRetry, onRetry: (e) => retries.push(e) },
      s3: { listPageSize: 100 },
    });
    try {
      const listed = (await listAll(s, 'k/')).map((o) => o.key);
      expect(listed).toEqual(keys);
      expect(retries.map((r) => r.operation)).toEqual(['list']);
      expect(p.log.filter((r) => r.url.includes('start-after='))).toHaveLength(1); // resumed, not restarted
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('a connection dropped mid-download surfaces as a transient error to the reader', async () => {
    const prefix = s3.nextPrefix();
    const seed = storageVia(server.endpoint, { prefix });
    await seed.put('obj', Buffer.alloc(4 * 1024 * 1024, 5));
    await seed.close();
    const p = await withProxy(({ method }) => (method === 'GET' ? 'drop-mid-body' : 'pass'));
    const s = storageVia(p.endpoint, { prefix });
    try {
      const stream = await s.getStream('obj');
      const err = await storageError(collect(stream), 'E_STORAGE_UNAVAILABLE');
      expect(err.transient).toBe(true);
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('a server that honours If-None-Match is detected by probe (atomicCreate=true)', async () => {
    // The proxy enforces If-None-Match: * on PUT for keys it has seen written.
    const written = new Set<string>();
    const p = await withProxy(({ method, url, headers }) => {
      const path = url.split('?')[0] ?? url;
      if (method === 'PUT' && headers['if-none-match'] === '*' && written.has(path)) {
        return { status: 412, code: 'PreconditionFailed' };
      }
      if (method === 'PUT') written.add(path);
      return 'pass';
    });
    const s = storageVia(p.endpoint);
    try {
      expect(s.capabilities.atomicCreate).toBe(false);
      await s.probe();
      expect(s.capabilities.atomicCreate).toBe(true);
      await s.put('lock', Buffer.from('a'), { ifAbsent: true });
      expect(p.log.filter((r) => r.method === 'PUT').length).toBeGreaterThan(0);
      await storageError(s.put('lock', Buffer.from('b'), { ifAbsent: true }), 'E_OBJECT_EXISTS');
    } finally {
      await s.close();
      await closeProxy();
    }
  });

  it('errors are StorageErrors with a message and hint, never raw SDK errors', async () => {
    const s = storageVia(server.endpoint);
    try {
      const err = await s.get('missing').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).message).toContain('s3://safetynet-test/');
      expect((err as StorageError).hint).toBeTruthy();
    } finally {
      await s.close();
    }
  });
});
