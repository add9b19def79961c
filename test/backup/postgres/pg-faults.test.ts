import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import { backupDatabase, restoreDatabase } from '../../../src/backup/database.js';
import { WalStreamer } from '../../../src/backup/sources/postgres/walstream.js';
import { listWal } from '../../../src/backup/sources/postgres/walstream.js';
import { verifyRepository } from '../../../src/backup/verify.js';
import { pruneRepository } from '../../../src/backup/prune.js';
import { runRestoreTest } from '../../../src/backup/restore-test.js';
import { runDrill } from '../../../src/backup/drill.js';
import { buildStatus } from '../../../src/backup/status.js';
import { resolveConfig } from '../../../src/config/index.js';
import { generateIdentity } from '../../../src/backup/crypto/index.js';
import type { PgRestoreResult } from '../../../src/backup/sources/postgres/restore.js';
import { createCluster, createShopSchema, type TestCluster } from './cluster.js';
import { expectCode, useTestEnvs } from '../env.js';
import { CLI, runCli } from '../../helpers/cli.js';
import { startS3Server } from '../../helpers/s3.js';

const env = useTestEnvs();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await createCluster({ conf: 'max_slot_wal_keep_size = 64MB' });
  await createShopSchema(cluster, 3000);
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});

async function pgEnv(extra: Record<string, unknown> = {}, backup: Record<string, unknown> = {}) {
  const e = await env({
    database: {
      type: 'postgres',
      connectionString: cluster.connectionString,
      slot: `t_${Math.random().toString(36).slice(2, 8)}`,
      walUploadSeconds: 1,
      heartbeatSeconds: 1,
      ...extra,
    },
    backup,
  });
  chmodSync(e.dir, 0o755);
  return e;
}

/** Streams for `ms` while `work` runs. */
async function streamWhile(e: Awaited<ReturnType<typeof pgEnv>>, work: () => Promise<void>, tailMs = 2500) {
  const ac = new AbortController();
  const run = new WalStreamer(e.deps, { signal: ac.signal, heartbeat: true }).run();
  try {
    await work();
    await new Promise((r) => setTimeout(r, tailMs));
  } finally {
    ac.abort();
    await run;
  }
}

async function switchSegments(n: number) {
  for (let i = 0; i < n; i++) {
    await cluster.query(`INSERT INTO customers VALUES (${700000 + Math.floor(Math.random() * 1e6)}, 'x')`);
    await cluster.query('SELECT pg_switch_wal()');
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('PostgreSQL faults', () => {
  it('a WAL gap made by deleting an object is named by verify with the restore times it breaks; prune explains its WAL', async () => {
    const e = await pgEnv();
    const base = await backupDatabase(e.deps, { mode: 'full' });
    await streamWhile(e, () => switchSegments(4));
    const listing = await listWal(e.deps);
    const names = [...listing.segments.keys()];
    expect(names.length).toBeGreaterThanOrEqual(4);
    expect((await verifyRepository(e.deps, { readData: false })).ok).toBe(true);
    const victim = names[names.length - 2]!;
    await e.deps.repo.storage.delete(listing.segments.get(victim)!.key);
    const v = await verifyRepository(e.deps, { readData: false });
    expect(v.ok).toBe(false);
    const p = v.problems.find((x) => x.kind === 'chain')!;
    expect(p.message).toContain(`WAL segment ${victim} is missing`);
    expect(p.message).toMatch(/restores to times after .* are impossible/);
    expect(p.points).toEqual([base.entry.id]);
    const cli = await runCli(['--config', e.configFile, 'verify']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(victim);
    const dry = await pruneRepository(e.deps, { dryRun: true });
    expect(dry.log!.explain[0]).toMatch(/keep WAL from .* point-in-time window/);
    // Only segments from before the base's start segment may go (the slot began a little earlier).
    expect(dry.log!.kept).toBeGreaterThanOrEqual(names.length - 2);
  }, 120_000);

  it('a killed `wal stream` leaves no child behind, and the next run continues without a gap', async () => {
    const e = await pgEnv();
    await backupDatabase(e.deps, { mode: 'full' });

    const child = spawn(process.execPath, [CLI, '--config', e.configFile, 'wal', 'stream'], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 2500));
    await switchSegments(2);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, 500));
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('pg_receivewal') && l.includes(e.config.database.postgres!.slot));
    expect(left).toEqual([]);
    await cluster.query(
      "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (910001, 1, 'while-down', 1)",
    );
    await switchSegments(1);
    await streamWhile(e, async () => {
      await cluster.query(
        "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (910002, 1, 'after', 1)",
      );
    });
    const v = await verifyRepository(e.deps, { readData: true });
    expect(v.problems).toEqual([]);
    const to = path.join(e.dir, 'r');
    const r = (await restoreDatabase(e.deps, { to, start: true })) as PgRestoreResult;
    try {
      const c = await r.started!.client();
      const ids = (await c.query('SELECT id FROM orders WHERE id > 910000 ORDER BY id')).rows.map((x) =>
        Number(x.id),
      );
      await c.end();
      expect(ids).toEqual([910001, 910002]);
    } finally {
      await r.started?.stop();
    }
  }, 120_000);

  it('an invalidated slot is a status warning that says what to do', async () => {
    const e = await pgEnv();
    const slot = e.config.database.postgres!.slot;
    await backupDatabase(e.deps, { mode: 'full' });
    // Nobody streams: write more WAL than max_slot_wal_keep_size (64MB) allows, then checkpoint.
    for (let i = 0; i < 6; i++) {
      await cluster.query(
        "INSERT INTO payments SELECT 1000000 + g + $1::int * 100000, 1, jsonb_build_object('x', repeat(md5(g::text), 40)) FROM generate_series(1, 9000) g",
        [i],
      );
      await cluster.query('SELECT pg_switch_wal()');
    }
    await cluster.query('CHECKPOINT');
    const rows = await cluster.query<{ wal_status: string }>(
      'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    expect(rows[0]!.wal_status).toBe('lost');
    const s = await buildStatus(e.deps);
    expect(s.stream!.slot!.walStatus).toBe('lost');
    expect(s.warnings.join('\n')).toMatch(
      new RegExp(`slot ${slot} was invalidated .* run \`safetynet backup db\` now`),
    );
    await cluster.query('SELECT pg_drop_replication_slot($1)', [slot]);
  }, 120_000);

  it('restore test and drill: a corrupted object fails the test by name; a wrong key is refused; the drill measures RPO from the heartbeat', async () => {
    const e = await pgEnv({ tables: ['orders', 'payments'] });
    const base = await backupDatabase(e.deps, { mode: 'full' });
    let drill: Awaited<ReturnType<typeof runDrill>> | undefined;
    await streamWhile(
      e,
      async () => {
        await cluster.query(
          "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (920001, 1, 'drill', 1)",
        );
        await new Promise((r) => setTimeout(r, 2500));
        drill = await runDrill(e.deps);
      },
      0,
    );
    expect(drill!.steps.map((s) => [s.name, s.ok, s.ok ? '' : s.detail])).toEqual([
      ['read the repository catalog', true, ''],
      ['restore the database (newest point) and check it', true, ''],
    ]);
    expect(drill!.rpoBasis).toMatch(/heartbeat table safetynet_heartbeat/);
    expect(drill!.rpoMs).toBeLessThan(10_000);

    // Wrong key: an identity that is not the repository's.
    const other = path.join(e.dir, 'other-identity.txt');
    writeFileSync(other, generateIdentity().identity + '\n', { mode: 0o600 });
    const raw = JSON.parse(readFileSync(e.configFile, 'utf8'));
    raw.backup.identity = other;
    const wrong = await e.makeDeps({
      config: resolveConfig(raw, { file: e.configFile, baseDir: e.dir, env: {} }),
    });
    await expectCode(restoreDatabase(wrong, { to: path.join(e.dir, 'w') }), 'E_IDENTITY_WRONG');

    // A corrupted data object: the restore test says which check failed.
    const file = path.join(e.deps.repo.storage.localPath!, base.entry.objects[0]!.key);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(file, bytes);
    const rt = await runRestoreTest(e.deps);
    expect(rt.ok).toBe(false);
    expect(rt.failed).toBe('objects decrypt and match the manifest');
    expect(readdirSync('/tmp').filter((n) => n.startsWith('safetynet-pg-scratch-'))).toEqual([]);
  }, 180_000);

  it('backs up to and restores from S3 (real s3rver), through the CLI, with --start --port', async () => {
    const s3 = await startS3Server();
    try {
      Object.assign(process.env, s3.env);
      const e = await pgEnv({}, { ...s3.config('pg-shop') });
      const b = await runCli(['--config', e.configFile, 'backup', 'db', '--json'], {
        env: s3.env,
        timeoutMs: 120_000,
      });
      expect(b.code, b.stderr).toBe(0);
      const point = JSON.parse(b.stdout);
      expect(point.kind).toBe('full');
      const list = await runCli(['--config', e.configFile, 'backups', 'list'], { env: s3.env });
      expect(list.stdout).toContain(point.id);
      const to = path.join(e.dir, 'restored');
      const port = 20000 + Math.floor(Math.random() * 20000);
      const r = await runCli(
        ['--config', e.configFile, 'restore', 'db', '--to', to, '--start', '--port', String(port)],
        {
          env: s3.env,
          timeoutMs: 120_000,
        },
      );
      try {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(`127.0.0.1:${port}`);
        const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
        await c.connect();
        const n = (await c.query('SELECT count(*)::int n FROM orders')).rows[0].n;
        await c.end();
        expect(n).toBeGreaterThanOrEqual(3000);
      } finally {
        execFileSync('runuser', [
          '-u',
          'postgres',
          '--',
          '/usr/lib/postgresql/15/bin/pg_ctl',
          'stop',
          '-D',
          to,
          '-m',
          'immediate',
        ]);
      }
    } finally {
      await s3.close();
    }
  }, 180_000);
});
