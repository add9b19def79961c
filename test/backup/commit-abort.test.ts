/**
 * A point is visible only when complete (issue 11, finding 9): when the catalog write landed but
 * was reported failed (the connection dropped after the server stored it), abort() removes the
 * catalog entry too; and when the entry cannot be removed, the point's data is left complete.
 */
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import type { Storage } from '../../src/backup/storage/index.js';
import { useTestEnvs } from './env.js';

const newEnv = useTestEnvs();

/** The real storage, with the reply to catalog writes (or deletes) lost after the write landed. */
function lossyReplies(inner: Storage, on: { put?: boolean; del?: boolean }): Storage {
  const s = Object.create(inner) as Storage;
  s.put = async (key, body, o) => {
    await inner.put(key, body, o);
    if (on.put && key.startsWith('catalog/'))
      throw new StorageError('E_STORAGE_UNAVAILABLE', `connection reset after writing ${key}`);
  };
  s.delete = async (key, o) => {
    if (on.del && key.startsWith('catalog/'))
      throw new StorageError('E_STORAGE_UNAVAILABLE', `connection reset before deleting ${key}`);
    return inner.delete(key, o);
  };
  return s;
}

const META = {
  id: '20260101T000000000Z-abcdef',
  source: 'db',
  kind: 'full' as const,
  time: Date.UTC(2026, 0, 1),
  parent: null,
  set: null,
};

describe('commit and abort', () => {
  it('an aborted point whose catalog write landed but failed is not left visible', async () => {
    const env = await newEnv({ rows: 0 });
    const repo = env.deps.repo;
    await repo.prepareForWrite();
    await repo.ensureInitialized();
    const real = repo.storage;
    (repo as { storage: Storage }).storage = lossyReplies(real, { put: true });
    const w = repo.beginPoint(META);
    await w.add(0, `data/${META.id}/000000.age`, Buffer.from('part'));
    await expect(w.commit({}, { logicalBytes: 4 })).rejects.toMatchObject({ code: 'E_STORAGE_UNAVAILABLE' });
    await w.abort();
    (repo as { storage: Storage }).storage = real;
    // Before the fix the catalog entry stayed while its manifest and data were deleted.
    expect(await repo.listPoints()).toEqual([]);
  });

  it('when the catalog entry cannot be removed, the data it needs stays', async () => {
    const env = await newEnv({ rows: 0 });
    const repo = env.deps.repo;
    await repo.prepareForWrite();
    await repo.ensureInitialized();
    const real = repo.storage;
    (repo as { storage: Storage }).storage = lossyReplies(real, { put: true, del: true });
    const w = repo.beginPoint(META);
    await w.add(0, `data/${META.id}/000000.age`, Buffer.from('part'));
    await expect(w.commit({}, { logicalBytes: 4 })).rejects.toThrow();
    await w.abort();
    (repo as { storage: Storage }).storage = real;
    const [entry] = await repo.listPoints();
    expect(entry?.id).toBe(META.id);
    for (const o of entry!.objects) expect(await real.head(o.key)).toBeDefined();
    expect(await real.head(entry!.manifest.key)).toBeDefined();
  });
});
