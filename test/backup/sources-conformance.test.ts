/**
 * The BackupSource conformance suite, through the contract only — what the generic backup layer
 * relies on. The common checks (a point becomes visible, a restore reproduces the content, the
 * restore test passes and names a damaged object, a drill recovers) run against every source:
 * SQLite, a real PostgreSQL 15 cluster and file sets; the database part of the contract (health,
 * continuous log) against the two database sources.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { databaseSource, fileSetSource } from '../../src/backup/sources/index.js';
import type { AnyBackupSource, DatabaseSource } from '../../src/backup/sources/types.js';
import type { CatalogEntry } from '../../src/backup/repo/types.js';
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

/** Content of the file-set subject: a few files, one big enough to span several chunks. */
const FILES: Record<string, Buffer> = {
  'invoices/2026/a.pdf': Buffer.from('invoice A\n'),
  'invoices/2026/b.pdf': Buffer.from('invoice B\n'.repeat(1000)),
  'invoices/big.bin': Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7919) & 0xff)),
  'invoices/empty.txt': Buffer.alloc(0),
};

interface Subject {
  env(): Promise<TestEnv>;
  source(e: TestEnv): AnyBackupSource;
  backupOptions: Record<string, unknown>;
  /** Where a restore writes, for this source's kind of target. */
  target(e: TestEnv): string;
  /** Checks that what `restore` wrote at `to` is the backed-up content. */
  expectRestored(to: string, result: Record<string, unknown>): void;
}

const dbSubject = (kind: 'sqlite' | 'postgres'): Subject => ({
  env: kinds[kind]!,
  source: (e) => databaseSource(e.config),
  backupOptions: { mode: 'full' },
  target(e) {
    // Searchable by the OS user a started server runs as.
    mkdirSync(path.join(e.dir, 'restored'), { recursive: true });
    chmodSync(path.join(e.dir, 'restored'), 0o755);
    return path.join(e.dir, 'restored', kind === 'sqlite' ? 'shop.sqlite' : 'data');
  },
  expectRestored(_to, r) {
    const tables = r.tables as Record<string, number>;
    expect(Object.values(tables).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(tables).toEqual(r.expectedTables);
  },
});

const shops: string[] = [];
afterAll(() => {
  for (const s of shops) rmSync(s, { recursive: true, force: true });
});

const subjects: Record<string, Subject> = {
  sqlite: dbSubject('sqlite'),
  postgres: dbSubject('postgres'),
  files: {
    async env() {
      // The set's folder must exist when the config is read: made first, beside the env.
      const shop = mkdtempSync(path.join(tmpdir(), 'conformance-shop-'));
      shops.push(shop);
      for (const [rel, data] of Object.entries(FILES)) {
        const file = path.join(shop, rel);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, data);
      }
      return env({ rows: 0, backup: { files: [{ name: 'invoices', path: path.join(shop, 'invoices') }] } });
    },
    source: () => fileSetSource,
    backupOptions: {},
    target: (e) => path.join(e.dir, 'restored'),
    expectRestored(to, r) {
      expect(r.failures).toEqual([]);
      for (const [rel, data] of Object.entries(FILES))
        expect(readFileSync(path.join(to, rel)).equals(data), rel).toBe(true);
    },
  },
};

describe.each(Object.keys(subjects))('BackupSource common contract: %s', (kind) => {
  const subject = subjects[kind]!;
  const pointOf = async (e: TestEnv, source: AnyBackupSource): Promise<CatalogEntry> => {
    const b = (await source.backup(e.deps, subject.backupOptions)) as { entry: CatalogEntry };
    return b.entry;
  };

  it('backs up a visible point, restores its content, passes its restore test and a drill recovery', async () => {
    const e = await subject.env();
    const source = subject.source(e);
    expect(source.type).toBe(kind);
    const c = source.capabilities;
    expect(c.startable).toBe(c.restoreTarget === 'directory');
    if (c.pointInTime) expect(c.continuousLog).toBe(true);

    const entry = await pointOf(e, source);
    expect(entry.source).toBe(source.pointSource);
    const points = (await e.deps.repo.listPoints()).filter((p) => p.source === source.pointSource);
    expect(points.map((p) => p.id)).toEqual([entry.id]);

    const to = subject.target(e);
    // A startable source is started, so the restored rows can be counted.
    const start = source.capabilities.startable ? { start: true } : {};
    const r = (await source.restore(e.deps, { to, pointId: entry.id, ...start })) as Record<
      string,
      unknown
    > & {
      server?: { stop(): Promise<void> };
    };
    try {
      subject.expectRestored(to, r);
    } finally {
      await r.server?.stop();
    }

    const scratch = mkdtempSync(path.join(tmpdir(), 'conformance-'));
    chmodSync(scratch, 0o755);
    try {
      const checks = await source.restoreTest(e.deps, entry, scratch, { sample: 'all' });
      expect(checks.length).toBeGreaterThan(0);
      expect(checks.filter((x) => !x.ok)).toEqual([]);
      const d = await source.drillRecover(e.deps, entry, scratch);
      expect(d.bytes).toBeGreaterThan(0);
      expect([d.detail, ...(d.points ?? [])].join(' ')).toContain(entry.id);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 120_000);

  it('fails its restore test on a damaged object, naming the object', async () => {
    const e = await subject.env();
    const source = subject.source(e);
    const entry = await pointOf(e, source);
    const key = entry.objects[0]!.key;
    const file = path.join(e.deps.repo.storage.localPath!, key);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(file, bytes);
    const scratch = mkdtempSync(path.join(tmpdir(), 'conformance-'));
    chmodSync(scratch, 0o755);
    try {
      const checks = await source.restoreTest(e.deps, entry, scratch, { sample: 'all' });
      const failed = checks.filter((x) => !x.ok);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.map((x) => x.detail).join('\n')).toContain(key);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 120_000);
});
