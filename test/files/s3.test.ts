/**
 * File backups on an S3-compatible bucket: a real s3rver on loopback through the AWS SDK v3.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupFiles } from '../../src/backup/sources/files/backup.js';
import { restoreFiles } from '../../src/backup/sources/files/restore.js';
import { verifyFilesPoints } from '../../src/backup/sources/files/verify.js';
import { startS3Server, type S3TestServer } from '../helpers/s3.js';
import { bytes, createFilesEnv, put, type FilesEnv } from './env.js';

let s3: S3TestServer;
let env: FilesEnv;
beforeAll(async () => {
  s3 = await startS3Server({ bucket: 'shop-files' });
  Object.assign(process.env, s3.env);
  env = await createFilesEnv({ keepDir: true, backup: { ...s3.config('prod/backups') } });
});
afterAll(async () => {
  await env?.close();
  await s3?.close();
});

describe('files backup on an S3-compatible bucket', () => {
  it('backs up, deduplicates, restores everything and single files, and verifies', async () => {
    expect(env.deps.repo.storage.url).toBe('s3://shop-files/prod/backups');
    for (let i = 0; i < 120; i++)
      put(path.join(env.shop, 'images', `d${i % 3}`, `p${i}.jpg`), bytes(i, 30_000));
    put(path.join(env.shop, 'invoices/2026/INV-000001.pdf'), '%PDF-1.4 one');
    put(path.join(env.shop, 'invoices/big.bin'), bytes(999, 2_000_000));
    const first = await backupFiles(env.deps);
    expect(first.problems).toEqual([]);
    expect(first.stats.files).toBe(122);
    expect(first.entry.objects.length).toBeLessThanOrEqual(3); // packs, not 122 objects

    const second = await backupFiles(env.deps);
    expect(second.stats.filesRead).toBe(0);
    expect(second.stats.packsNew + second.stats.segmentPacksNew).toBe(0);

    put(path.join(env.shop, 'images/copy-of-p7.jpg'), bytes(7, 30_000));
    const third = await backupFiles(env.deps);
    expect(third.stats.blobsNew).toBe(0);
    expect(third.stats.bytesDeduplicated).toBe(30_000);

    const all = path.join(env.dir, 'all');
    const r = await restoreFiles(env.deps, { to: all });
    expect(r.failures).toEqual([]);
    expect(r.verified).toBe(123);
    expect(readFileSync(path.join(all, 'invoices/big.bin')).equals(bytes(999, 2_000_000))).toBe(true);
    expect(readFileSync(path.join(all, 'images/copy-of-p7.jpg')).equals(bytes(7, 30_000))).toBe(true);

    const one = path.join(env.dir, 'one');
    const single = await restoreFiles(env.deps, { to: one, paths: ['invoices/2026/INV-000001.pdf'] });
    expect(single.files).toBe(1);
    expect(readFileSync(path.join(one, 'invoices/2026/INV-000001.pdf'), 'utf8')).toBe('%PDF-1.4 one');

    const points = await env.deps.repo.listPoints();
    const v = await verifyFilesPoints(env.deps.repo, points, { readData: true });
    expect(v.problems).toEqual([]);
    expect(v.points).toBe(3);
  });
});
