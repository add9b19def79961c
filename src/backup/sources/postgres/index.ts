/**
 * The PostgreSQL database source: base backups (basebackup.ts) plus continuous WAL
 * (walstream.ts), restored to any moment the WAL covers (restore.ts), checked in a scratch
 * server with pg_verifybackup, pg_amcheck and row counts (this file), WAL chain and retention
 * (wal-chain.ts), and the server's health for `status` (health.ts).
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { DatabaseSource, RestoreTestCheck } from '../types.js';
import { describeError, restoreCheckName } from '../common.js';
import { rowCountCheck } from '../sqlite/index.js';
import { backupPostgres } from './basebackup.js';
import { restorePostgres } from './restore.js';
import { WalStreamer, pgConfig } from './walstream.js';
import { pgTool, runTool } from './tools.js';
import type { PostgresManifest } from './manifest.js';
import { formatBytes } from '../../../util/format.js';
import { retainWal, verifyWal } from './wal-chain.js';
import { postgresHealth, heartbeatAt } from './health.js';
import { clientConfig } from './conn.js';

/** A scratch folder the OS user can reach (a 0700 state folder of root would not be). */
function scratchRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'safetynet-pg-scratch-'));
  chmodSync(root, 0o755);
  return root;
}

export const postgresSource: DatabaseSource = {
  type: 'postgres',
  pointSource: 'db',
  capabilities: {
    incrementalPoints: false,
    pointInTime: true,
    restoreTarget: 'directory',
    startable: true,
    continuousLog: true,
    restoreCheckLevels: false,
  },
  backup: backupPostgres,
  restore: (deps, opts) => restorePostgres(deps, opts),

  async restoreTest(deps, point, _scratch) {
    const checks: RestoreTestCheck[] = [];
    const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
    const pgc = pgConfig(deps);
    const root = scratchRoot();
    let stop: (() => Promise<void>) | undefined;
    try {
      const m = await deps.repo.readManifest<PostgresManifest>(point);
      const r = await restorePostgres(
        deps,
        {
          to: path.join(root, 'data'),
          pointId: point.id,
          locked: true,
          start: true,
          recoveryTarget: { lsn: m.database.countsLsn },
        },
        {
          supervised: true,
          beforeStart: async (dir) => {
            // The backup's own manifest, before recovery settings and the server change files.
            const v = await runTool(pgTool(pgc, 'pg_verifybackup'), [
              '-n',
              '-q',
              '-i',
              'postgresql.auto.conf',
              '-i',
              'recovery.signal',
              dir,
            ]).then(
              () => ({ ok: true, detail: 'every file matches backup_manifest' }),
              (err: unknown) => ({ ok: false, detail: describeError(err) }),
            );
            check('pg_verifybackup', v.ok, v.detail);
          },
        },
      );
      stop = r.started?.stop;
      check(
        'objects decrypt and match the manifest',
        true,
        `${formatBytes(r.sizeBytes)} base backup (every part's size and SHA-256 as in the manifest), ${r.walSegments} WAL segments`,
      );
      check(
        'recovery reaches the backup time and the server accepts connections',
        true,
        `recovered to ${m.database.countsLsn} in ${Math.round(((r.phases.serverStartMs ?? 0) + (r.phases.recoveryMs ?? 0) + (r.phases.readyMs ?? 0)) / 100) / 10} s on port ${r.started!.port}`,
      );
      const conn = clientConfig(pgc.connectionString);
      const amcheck = await runTool(pgTool(pgc, 'pg_amcheck'), [
        '--install-missing',
        '--heapallindexed',
        '-j',
        '2',
        '-h',
        '127.0.0.1',
        '-p',
        String(r.started!.port),
        ...(conn.user ? ['-U', conn.user] : []),
        '--no-password',
        ...(conn.database ? ['-d', conn.database] : ['--all']),
      ]).then(
        () => ({ ok: true, detail: 'no corruption in heaps and indexes' }),
        (err: unknown) => ({ ok: false, detail: describeError(err) }),
      );
      check('pg_amcheck --heapallindexed', amcheck.ok, amcheck.detail);
      const counts = rowCountCheck(r.tables, r.expectedTables);
      if (!counts.ok && m.database.countsExact !== true)
        counts.detail +=
          ' (the counts were taken in a snapshot without a lock on the tables: a commit in the same instant can' +
          ' account for its rows; see docs/postgres-backup.md, "Row counts")';
      checks.push(counts);
    } catch (err) {
      check(restoreCheckName(err), false, describeError(err));
    } finally {
      await stop?.().catch(() => {});
      rmSync(root, { recursive: true, force: true });
    }
    return checks;
  },

  async drillRecover(deps, point, _scratch) {
    const pgc = pgConfig(deps);
    // The live server's newest heartbeat at the moment of the "disaster".
    const live = await heartbeatAt(pgc).catch(() => undefined);
    const disasterAt = live ?? deps.clock.now();
    const root = scratchRoot();
    try {
      const r = await restorePostgres(
        deps,
        {
          to: path.join(root, 'data'),
          pointId: point.id,
          recoveryTarget: 'latest',
          start: true,
          locked: true,
        },
        { supervised: true },
      );
      try {
        const recovered = await heartbeatAt(pgc, await r.started!.client()).catch(() => undefined);
        const rpoMs = recovered !== undefined ? Math.max(0, disasterAt - recovered) : undefined;
        return {
          bytes: r.sizeBytes,
          ...(rpoMs !== undefined
            ? {
                rpoMs,
                rpoBasis: `heartbeat table ${pgc.heartbeatTable}: live ${new Date(disasterAt).toISOString()}, recovered ${new Date(recovered!).toISOString()}`,
              }
            : {}),
          detail: `base ${point.id} + ${r.walSegments} WAL segments: ${formatBytes(r.sizeBytes)}, recovered and accepting connections on port ${r.started!.port}${r.walGap ? `; WAL ends at the gap ${r.walGap}` : ''}`,
        };
      } finally {
        await r.started?.stop().catch(() => {});
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },

  streamLog: (deps, signal) => new WalStreamer(deps, { signal, heartbeat: true }).run(),
  verifyLog: verifyWal,
  retainLog: retainWal,
  health: postgresHealth,
};
