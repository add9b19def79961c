import { beforeAll, describe, expect, it } from 'vitest';
import type { S3TestServer } from '../helpers/s3.js';
import { listAll, runStorageConformance, storageError } from './conformance.js';
import { useS3Server } from './s3-setup.js';

const s3 = useS3Server();
let server: S3TestServer;
beforeAll(() => {
  server = s3.server();
});

const storageVia = s3.storageVia;

describe('S3 storage on s3rver', () => {
  runStorageConformance(
    's3 (s3rver)',
    async () => {
      const storage = storageVia(server.endpoint);
      await storage.probe();
      return storage;
    },
    { folderWalkListOrder: true },
  );

  it('stores keys under the URL prefix, and a prefix-less repository uses the bucket root', async () => {
    const a = storageVia(server.endpoint, { prefix: 'shop/prod' });
    const root = storageVia(server.endpoint, { prefix: '' });
    try {
      expect(a.url).toBe('s3://safetynet-test/shop/prod');
      await a.put('data/x', Buffer.from('1'));
      expect((await root.get('shop/prod/data/x')).toString()).toBe('1');
      expect((await listAll(a, '')).map((o) => o.key)).toEqual(['data/x']);
    } finally {
      await a.close();
      await root.close();
    }
  });

  it('s3rver ignores If-None-Match, so probe reports atomicCreate=false (ifAbsent still refuses existing keys)', async () => {
    const s = storageVia(server.endpoint);
    try {
      expect(s.capabilities.atomicCreate).toBe(false); // unknown before probe: assume the worst
      await s.probe();
      expect(s.capabilities.atomicCreate).toBe(false);
      await s.put('k', Buffer.from('a'), { ifAbsent: true });
      await storageError(s.put('k', Buffer.from('b'), { ifAbsent: true }), 'E_OBJECT_EXISTS');
      expect((await s.get('k')).toString()).toBe('a');
    } finally {
      await s.close();
    }
  });
});
