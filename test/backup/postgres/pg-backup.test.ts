import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { backupDatabase, restoreDatabase } from '../../../src/backup/database.js';
import { WalStreamer, listWal } from '../../../src/backup/sources/postgres/walstream.js';
import { execFileSync, spawn } from 'node:child_process';
import { CLI, runCli } from '../../helpers/cli.js';
import type { PgRestoreResult } from '../../../src/backup/sources/postgres/restore.js';
import { createCluster, createShopSchema, freePort, type TestCluster } from './cluster.js';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expectCode, useTestEnvs } from '../env.js';
import { runRestoreTest } from '../../../src/backup/restore-test.js';
import { verifyRepository } from '../../../src/backup/verify.js';
import { openCounts } from '../../../src/backup/sources/postgres/row-counts.js';

const env = useTestEnvs();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await createCluster();
  await createShopSchema(cluster, 5000);
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});

async function pgEnv(extra: Record<string, unknown> = {}) {
  const e = await env({
    database: {
      type: 'postgres',
      connectionString: cluster.connectionString,
      slot: `t_${Math.random().toString(36).slice(2, 8)}`,
      walUploadSeconds: 1,
      heartbeatSeconds: 1,
      tables: ['customers', 'orders', 'payments'],
      ...extra,
    },
  });
  chmodSync(e.dir, 0o755); // the postgres OS user runs restored servers from folders inside
  return e;
}

describe('PostgreSQL base backups and WAL', () => {
  it('counts rows in a snapshot that matches its WAL position: a writer in flight is waited for, briefly', async () => {
    const e = await pgEnv();
    const orders = async () =>
      Number((await cluster.query<{ n: string }>('SELECT count(*) n FROM orders'))[0]!.n);
    const before = await orders();
    const t = new pg.Client({ connectionString: cluster.connectionString });
    await t.connect();
    try {
      // A write in flight when the counting starts: the snapshot waits until it is visible (a
      // plain snapshot would leave it out while recovery to the position read just after could
      // replay its commit).
      await t.query('BEGIN');
      await t.query("INSERT INTO orders (id, customer_id, status, total_cents) VALUES (700001, 1, 'x', 1)");
      const commit = setTimeout(() => void t.query('COMMIT'), 60);
      const first = await openCounts(e.deps);
      clearTimeout(commit);
      expect((await first.tables).orders).toBe(before + 1);
      expect(first.exact).toBe(true);
      // A write that stays open: after a few short tries the plain snapshot, without it.
      await t.query('BEGIN');
      await t.query("INSERT INTO orders (id, customer_id, status, total_cents) VALUES (700002, 1, 'x', 1)");
      const t0 = Date.now();
      const second = await openCounts(e.deps);
      expect((await second.tables).orders).toBe(before + 1);
      expect(second.exact).toBe(false);
      expect(Date.now() - t0).toBeLessThan(3000);
      await t.query('ROLLBACK');
      await cluster.query('DELETE FROM orders WHERE id = 700001');
    } finally {
      await t.end();
    }
  });

  it('backs up under writes, streams WAL, restores to latest and to a time between two commits', async () => {
    // Over the Unix socket, in libpq's URI form with an empty host (as on the database host).
    const e = await pgEnv({
      connectionString: `postgres://postgres@/shop?host=${encodeURIComponent(cluster.root)}&port=${cluster.port}`,
    });
    // Writes keep running during the base backup.
    let n = 0;
    const writer = setInterval(() => {
      n++;
      void cluster
        .query(
          `INSERT INTO orders (id, customer_id, status, total_cents) VALUES (${800000 + n}, 1, 'busy', ${n})`,
        )
        .catch(() => {});
    }, 20);
    const full = await backupDatabase(e.deps, { mode: 'auto' }).finally(() => clearInterval(writer));
    expect(full.kind).toBe('full');
    expect(full.entry.summary).toMatchObject({ engine: 'postgres', timeline: 1 });
    const ac = new AbortController();
    const streamer = new WalStreamer(e.deps, { signal: ac.signal, heartbeat: true });
    const running = streamer.run();
    let between: number;
    try {
      await cluster.query(
        "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (900001, 1, 'before', 1)",
      );
      await new Promise((r) => setTimeout(r, 1200));
      between = Date.now();
      await new Promise((r) => setTimeout(r, 1200));
      await cluster.query(
        "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (900002, 1, 'after', 2)",
      );
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      ac.abort();
      await running;
    }
    const latestDir = path.join(e.dir, 'latest');
    const latest = (await restoreDatabase(e.deps, { to: latestDir, start: true })) as PgRestoreResult;
    try {
      expect(statSync(latestDir).mode & 0o777).toBe(0o700);
      expect(readFileSync(path.join(latestDir, 'postgresql.auto.conf'), 'utf8')).toContain(
        "archive_mode = 'off'",
      );
      const c = await latest.started!.client();
      const rows = (await c.query('SELECT id FROM orders WHERE id > 900000 ORDER BY id')).rows.map((r) =>
        Number(r.id),
      );
      await c.end();
      expect(rows).toEqual([900001, 900002]);
    } finally {
      await latest.started?.stop();
    }

    // A time between the two commits: the row before is there, the row after is not.
    const pitrDir = path.join(e.dir, 'pitr');
    const pitr = (await restoreDatabase(e.deps, {
      to: pitrDir,
      at: between,
      start: true,
    })) as PgRestoreResult;
    try {
      const c = await pitr.started!.client();
      const rows = (await c.query('SELECT id FROM orders WHERE id > 900000 ORDER BY id')).rows.map((r) =>
        Number(r.id),
      );
      await c.end();
      expect(rows).toEqual([900001]);
    } finally {
      await pitr.started?.stop();
    }
    // A non-empty target is refused without --force.
    await expectCode(restoreDatabase(e.deps, { to: pitrDir }), 'E_TARGET_EXISTS');

    // The restore test: a scratch server, pg_verifybackup, pg_amcheck, row counts; recorded.
    const rt = await runRestoreTest(e.deps);
    expect(rt.checks.map((c) => [c.name, c.ok, c.ok ? '' : c.detail])).toEqual([
      ['pg_verifybackup', true, ''],
      ['objects decrypt and match the manifest', true, ''],
      ['recovery reaches the backup time and the server accepts connections', true, ''],
      ['pg_amcheck --heapallindexed', true, ''],
      ['row counts match the manifest', true, ''],
    ]);
    expect(rt.ok).toBe(true);
    const v = await verifyRepository(e.deps, { readData: true });
    expect(v.problems).toEqual([]);
  }, 120_000);

  it('serve streams WAL in the background; SIGTERM and SIGKILL leave no pg_receivewal behind; doctor says what to change', async () => {
    const e = await pgEnv();
    const slot = e.config.database.postgres!.slot;
    const receivers = () =>
      execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes('pg_receivewal') && l.includes(slot));
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const child = spawn(
        process.execPath,
        [CLI, '--config', e.configFile, 'serve', '--no-panel', '--catch-up-delay', '1h'],
        {
          stdio: 'ignore',
        },
      );
      const deadline = Date.now() + 30_000;
      while (receivers().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(receivers()).toHaveLength(1);
      await cluster.query(
        `INSERT INTO orders (id, customer_id, status, total_cents) VALUES (${signal === 'SIGTERM' ? 930001 : 930002}, 1, 'serve', 1)`,
      );
      await new Promise((r) => setTimeout(r, 3000));
      child.kill(signal);
      const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
      if (signal === 'SIGTERM') expect(code).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(receivers()).toEqual([]);
    }
    const listing = await listWal(e.deps);
    expect(listing.pieces.size + listing.segments.size).toBeGreaterThan(0);

    const doctor = await runCli(['--config', e.configFile, 'doctor']);
    expect(doctor.code).toBe(1); // max_slot_wal_keep_size is -1 on this cluster
    expect(doctor.stdout).toMatch(/ok {3}wal_level +replica/);
    expect(doctor.stdout).toMatch(/FIX {2}max_slot_wal_keep_size +-1\n +set max_slot_wal_keep_size/);
  }, 120_000);

  it('the runbook recipe (age, zstd, tar, jq and pg_ctl) rebuilds the cluster with every stored WAL byte', async () => {
    const e = await pgEnv();
    const base = await backupDatabase(e.deps, { mode: 'full' });
    const ac = new AbortController();
    const running = new WalStreamer(e.deps, { signal: ac.signal }).run();
    try {
      await cluster.query(
        "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (940001, 1, 'recipe', 1)",
      );
      await cluster.query('SELECT pg_switch_wal()');
      await cluster.query(
        "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (940002, 1, 'recipe', 2)",
      );
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      ac.abort();
      await running;
    }
    const doc = readFileSync(
      fileURLToPath(new URL('../../../docs/postgres-backup.md', import.meta.url)),
      'utf8',
    );
    const script = /```sh\n(# pg-restore\.sh[\s\S]*?)```/.exec(doc)?.[1];
    expect(script).toBeDefined();
    const dest = path.join(e.dir, 'by-hand');
    execFileSync('bash', ['-c', script!], {
      env: {
        ...process.env,
        REPO: e.deps.repo.storage.localPath!,
        KEY: e.identityFile,
        POINT: base.entry.id,
        DEST: dest,
      },
    });
    execFileSync('chown', ['-R', 'postgres:', dest]);
    const port = await freePort();
    const ctl = (args: string[]) =>
      execFileSync(
        'runuser',
        ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', dest, ...args],
        {
          stdio: 'ignore',
        },
      );
    ctl([
      'start',
      '-w',
      '-l',
      path.join(dest, 'by-hand.log'),
      '-o',
      `-p ${port} -c unix_socket_directories=`,
    ]);
    try {
      let ids: number[] = [];
      for (let i = 0; i < 100; i++) {
        try {
          const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
          await c.connect();
          const inRecovery = (await c.query('SELECT pg_is_in_recovery() r')).rows[0].r;
          ids = (await c.query('SELECT id FROM orders WHERE id > 940000 ORDER BY id')).rows.map((r) =>
            Number(r.id),
          );
          await c.end();
          if (!inRecovery) break;
        } catch {
          // starting
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(ids).toEqual([940001, 940002]);
    } finally {
      ctl(['stop', '-m', 'immediate']);
    }
  }, 120_000);
});
