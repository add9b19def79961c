/**
 * The BackupSource conformance suite: the same checks against every database source (SQLite and a
 * real PostgreSQL 15 cluster), through the contract only — what the generic backup layer relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { databaseSource } from '../../src/backup/sources/index.js';
import type { DatabaseSource } from '../../src/backup/sources/types.js';
import { useTestEnvs, type TestEnv } from './env.js';
import { createCluster, createShopSchema, type TestCluster } from './postgres/cluster.js';

const env = useTestEnvs();
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await createCluster();
  await createShopSchema(cluster, 2000);
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});

const kinds: Record<string, () => Promise<TestEnv>> = {
  sqlite: () => env({ rows: 2000 }),
  postgres: async () => {
    const e = await env({
      database: {
        type: 'postgres',
        connectionString: cluster.connectionString,
        slot: `c_${Math.random().toString(36).slice(2, 8)}`,
        walUploadSeconds: 1,
      },
    });
    chmodSync(e.dir, 0o755);
    return e;
  },
};

describe.each(Object.keys(kinds))('BackupSource conformance: %s', (kind) => {
  it('capabilities are consistent with what the source does', async () => {
    const e = await kinds[kind]!();
    const source: DatabaseSource = databaseSource(e.config);
    expect(source.type).toBe(kind);
    const c = source.capabilities;
    expect(c.startable).toBe(c.restoreTarget === 'directory');
    expect(Boolean(source.verifyLog && source.retainLog && source.streamLog)).toBe(c.continuousLog);
    if (c.pointInTime) expect(c.continuousLog).toBe(true);
  });

  it('backs up, restores, passes its restore test and a drill recovery, and reports health', async () => {
    const e = await kinds[kind]!();
    const source = databaseSource(e.config);
    const b = await source.backup(e.deps, { mode: 'full' });
    expect(b.kind).toBe('full');
    expect(b.entry.source).toBe('db');
    expect(b.line).toContain(b.entry.id);
    const points = await e.deps.repo.listPoints();
    expect(points.map((p) => p.id)).toEqual([b.entry.id]);

    const to = path.join(
      e.dir,
      'restored',
      source.capabilities.restoreTarget === 'file' ? 'shop.sqlite' : 'data',
    );
    const r = await source.restore(e.deps, { to, pointId: b.entry.id });
    expect(r.point.id).toBe(b.entry.id);
    expect(r.sizeBytes).toBeGreaterThan(0);
    expect(Object.keys(r.expectedTables).length).toBeGreaterThan(0);

    const scratch = mkdtempSync(path.join(tmpdir(), 'conformance-'));
    try {
      const checks = await source.restoreTest(e.deps, b.entry, scratch);
      expect(checks.length).toBeGreaterThanOrEqual(3);
      expect(checks.filter((c) => !c.ok)).toEqual([]);
      expect(checks.map((c) => c.name)).toContain('row counts match the manifest');
      const d = await source.drillRecover(e.deps, b.entry, scratch);
      expect(d.bytes).toBeGreaterThan(0);
      expect(d.detail).toContain(b.entry.id);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const h = await source.health(e.deps, points);
    expect(Array.isArray(h.warnings)).toBe(true);
    expect(Boolean(h.stream)).toBe(source.capabilities.continuousLog);
    if (source.verifyLog) expect(await source.verifyLog(e.deps, points, true)).toEqual([]);
    if (source.retainLog) {
      const keep = await source.retainLog(e.deps, points, Date.now());
      expect(keep.remove.length).toBeLessThanOrEqual(1); // at most the segment before the base's start
      expect(keep.explain.length).toBeGreaterThan(0);
    }
  }, 120_000);
});
