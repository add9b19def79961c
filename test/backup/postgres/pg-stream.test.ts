/**
 * The WAL stream and base backups together, on a real PostgreSQL 15 cluster: a base backup taken
 * while the stream runs (the slot has moved past the backup's start because the stream already
 * holds that WAL) gets its WAL from the stream and passes a restore test recovered to the LSN of
 * its row counts; the heartbeat follows writes and stays silent while the shop is idle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { backupDatabase } from '../../../src/backup/database.js';
import { WalStreamer } from '../../../src/backup/sources/postgres/walstream.js';
import { runRestoreTest } from '../../../src/backup/restore-test.js';
import { createCluster, createShopSchema, type TestCluster } from './cluster.js';
import { useTestEnvs } from '../env.js';

const env = useTestEnvs();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await createCluster();
  await createShopSchema(cluster, 3000);
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});

async function pgEnv(extra: Record<string, unknown> = {}) {
  const e = await env({
    database: {
      type: 'postgres',
      connectionString: cluster.connectionString,
      slot: `s_${Math.random().toString(36).slice(2, 8)}`,
      tables: ['customers', 'orders', 'payments'],
      ...extra,
    },
  });
  chmodSync(e.dir, 0o755);
  return e;
}

describe('the WAL stream beside base backups', () => {
  it('a base backup while the stream runs gets its WAL from the stream, and its restore test passes', async () => {
    // A long upload interval: the backup must not wait for the stream's next tick.
    const e = await pgEnv({ walUploadSeconds: 30, heartbeatSeconds: 0 });
    const ac = new AbortController();
    const running = new WalStreamer(e.deps, { signal: ac.signal }).run();
    try {
      // pg_receivewal is streaming (its slot active), however busy the machine is.
      const slot = e.config.database.postgres!.slot;
      for (let t = Date.now(); Date.now() - t < 30_000;) {
        const active = await cluster.query<{ a: boolean }>(
          'SELECT active a FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        if (active[0]?.a) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      let n = 0;
      const writer = setInterval(() => {
        n++;
        void cluster
          .query(
            `INSERT INTO orders (id, customer_id, status, total_cents) VALUES (${700000 + n}, 1, 'w', 1)`,
          )
          .catch(() => {});
      }, 20);
      const b = await backupDatabase(e.deps, { mode: 'full' }).finally(() => clearInterval(writer));
      expect(b.facts.wal).toBe('streamed');
      const rt = await runRestoreTest(e.deps);
      expect(rt.checks.filter((c) => !c.ok)).toEqual([]);
      expect(rt.ok).toBe(true);
    } finally {
      ac.abort();
      await running;
    }
  }, 120_000);

  it('a base backup stopped mid-stream leaves no point and no backup running on the server', async () => {
    const e = await pgEnv({ heartbeatSeconds: 0 });
    const ac = new AbortController();
    // Stop it when the first 8 MiB part arrives: the server is still sending the rest.
    const deps = {
      ...e.deps,
      progress: { start: () => {}, advance: () => ac.abort(), done: () => {} },
    };
    const err = await backupDatabase(deps, { mode: 'full', signal: ac.signal }).catch((x: unknown) => x);
    expect((err as { code?: string }).code).toBe('E_ABORTED');
    expect((await e.deps.repo.listPoints()).filter((p) => p.source === 'db')).toEqual([]);
    // The server saw the replication connection go and ended the backup.
    const running = async () =>
      (
        await cluster.query<{ n: string }>(
          "SELECT count(*)::text n FROM pg_stat_activity WHERE application_name = 'safetynet base backup'",
        )
      )[0]!.n;
    const deadline = Date.now() + 10_000;
    while ((await running()) !== '0' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await running()).toBe('0');
    expect(await cluster.query('SELECT * FROM pg_stat_progress_basebackup')).toEqual([]);
    // The next backup is not refused nor stuck.
    const next = await backupDatabase(e.deps, { mode: 'full' });
    expect(next.kind).toBe('full');
  }, 120_000);

  it('a cluster with a tablespace outside its data directory is refused by name, and nothing is stored', async () => {
    const e = await pgEnv({ heartbeatSeconds: 0 });
    const where = path.join(cluster.root, 'extra-ts');
    mkdirSync(where);
    const pgUser = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    chownSync(where, pgUser, pgUser);
    await cluster.query(`CREATE TABLESPACE extra LOCATION '${where}'`);
    try {
      const err = await backupDatabase(e.deps, { mode: 'full' }).catch((x: unknown) => x);
      expect((err as { code?: string }).code).toBe('E_PG_COMMAND');
      expect((err as Error).message).toContain(`tablespace outside its data directory (${where})`);
      expect((await e.deps.repo.listPoints()).filter((p) => p.source === 'db')).toEqual([]);
    } finally {
      await cluster.query('DROP TABLESPACE extra');
    }
  }, 120_000);

  it("a repository and a spool that hold one cluster's WAL refuse another cluster behind the same settings", async () => {
    const e = await pgEnv({ heartbeatSeconds: 0 });
    await backupDatabase(e.deps, { mode: 'full' });
    const sysA = (
      await cluster.query<{ s: string }>('SELECT system_identifier::text s FROM pg_control_system()')
    )[0]!.s;
    const marker = JSON.parse((await e.deps.repo.storage.get('wal/cluster.json')).toString('utf8'));
    expect(marker.systemIdentifier).toBe(sysA);
    // A new server answers at the configured address (a second cluster, with its own identifier).
    const other = await createCluster();
    try {
      const pgc = e.config.database.postgres!;
      const onOther = {
        ...e.config,
        database: { ...e.config.database, postgres: { ...pgc, connectionString: other.connectionString } },
      };
      const deps = await e.makeDeps({ config: onOther });
      const refused = async (p: Promise<unknown>, re: RegExp) => {
        const err = await p.then(
          () => undefined,
          (x: unknown) => x,
        );
        expect((err as { code?: string }).code).toBe('E_PG_OTHER_CLUSTER');
        expect((err as Error).message).toMatch(re);
        expect((err as { exitCode?: number }).exitCode).toBe(2);
      };
      await refused(
        backupDatabase(deps, { mode: 'full' }),
        /the repository's WAL belongs to .* cluster with system identifier/,
      );
      await refused(new WalStreamer(deps, { endpos: '0/1000000' }).run(), /repository's WAL/);
      // Its own repository, but the spool folder still holds the first cluster's WAL.
      const ownRepo = { ...onOther, backup: { ...onOther.backup, repository: path.join(e.dir, 'repo-2') } };
      await refused(
        backupDatabase(await e.makeDeps({ config: ownRepo }), { mode: 'full' }),
        /the WAL spool .* holds WAL of/,
      );
      // A spool from before its marker: the WAL files' own headers name their cluster.
      rmSync(`${path.join(e.config.backup.stateDir, 'pg-wal', pgc.slot)}.cluster`);
      await refused(
        backupDatabase(await e.makeDeps({ config: ownRepo }), { mode: 'full' }),
        new RegExp(`holds WAL of the PostgreSQL cluster with system identifier ${sysA}`),
      );
      expect((await deps.repo.listPoints()).filter((p) => p.source === 'db')).toHaveLength(1);
    } finally {
      await other.destroy();
    }
  }, 120_000);

  it('the heartbeat beats after writes and not while the shop is idle', async () => {
    const e = await pgEnv({ walUploadSeconds: 1, heartbeatSeconds: 1 });
    const beats: boolean[] = [];
    const waitBeats = async (n: number) => {
      const want = beats.length + n;
      const deadline = Date.now() + 60_000;
      while (beats.length < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    const ac = new AbortController();
    const running = new WalStreamer(e.deps, {
      signal: ac.signal,
      heartbeat: true,
      onHeartbeat: (wrote) => beats.push(wrote),
    }).run();
    try {
      await waitBeats(1);
      expect(beats[0]).toBe(true); // the first one always
      await waitBeats(4);
      // Nobody wrote: most decisions were to stay silent (autovacuum's analyze may take an id once).
      expect(beats.slice(1).filter((w) => !w).length).toBeGreaterThanOrEqual(3);
      await cluster.query(
        "INSERT INTO orders (id, customer_id, status, total_cents) VALUES (710001, 1, 'w', 1)",
      );
      const i = beats.length;
      await waitBeats(2); // one decision may have been under way during the insert
      expect(beats.slice(i)).toContain(true);
      const lastBeat = Number(
        (
          await cluster.query<{ t: string }>(
            'SELECT extract(epoch FROM at) * 1000 AS t FROM safetynet_heartbeat',
          )
        )[0]!.t,
      );
      expect(lastBeat).toBeGreaterThan(Date.now() - 10_000);
    } finally {
      ac.abort();
      await running;
    }
  }, 120_000);
});
