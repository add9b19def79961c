/**
 * The SQLite log store as its own backup source ("logs"): in `backup all` (same set and time),
 * restorable alone (`restore logs`), kept apart from the shop database's points by retention.
 * Real processes: the CLI, and a separate logging process writing while the backup runs.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { useTestEnvs } from './env.js';
import { runCli } from '../helpers/cli.js';
import { startChild } from '../log/child.js';
import { backupDatabase, backupLogStore, restoreLogStore } from '../../src/backup/database.js';
import { pruneRepository } from '../../src/backup/prune.js';
import { backupAll } from '../../src/backup/backup-all.js';
import { runRestoreTest } from '../../src/backup/restore-test.js';
import { runDrill } from '../../src/backup/drill.js';
import { scheduledJobs } from '../../src/server/jobs.js';

const newEnv = useTestEnvs();

/** A copy of the env's config file whose log store is `store` (for `logs verify` on a restored file). */
function configWithStore(file: string, store: string): string {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const out = path.join(path.dirname(file), `verify-${path.basename(store)}.json`);
  writeFileSync(out, JSON.stringify({ ...raw, logs: { store: { type: 'sqlite', path: store } } }));
  return out;
}

describe('log store backups', () => {
  it('backup all takes a logs point with the same set and time while another process logs; restore logs --at then logs verify', async () => {
    const env = await newEnv({ rows: 200 });
    const store = env.config.logs.store.path;
    const child = startChild(store, path.join(env.dir, 'spool-child'), 'paced', ['100000']);
    try {
      await child.waitFor((l) => l.filter((x) => x.startsWith('acked')).length >= 30);
      const r = await runCli(['backup', 'all', '--json', '--config', env.configFile]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as {
        set: string;
        database: { source: string; time: string; set: string };
        logs: { source: string; time: string; set: string; kind: string };
      };
      expect(out.logs.source).toBe('logs');
      expect(out.logs.kind).toBe('full');
      expect(out.logs.set).toBe(out.set);
      expect(out.logs.time).toBe(out.database.time);
      await child.waitFor((l) => l.filter((x) => x.startsWith('acked')).length >= 60);
      // a second run while the writer keeps going: an incremental of the log store
      const r2 = await runCli(['backup', 'all', '--json', '--config', env.configFile]);
      expect(r2.code, r2.stderr).toBe(0);
      const out2 = JSON.parse(r2.stdout) as { logs: { kind: string; parent: string } };
      expect(out2.logs.kind).toBe('incremental');

      const list = await runCli(['backups', 'list', '--json', '--config', env.configFile]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain('"logs"');

      const st = await runCli(['status', '--json', '--config', env.configFile]);
      const status = JSON.parse(st.stdout) as {
        last: { full: { id: string } | null };
        logs: { backup: string; newestPoint: { id: string } | null };
      };
      expect(status.logs.backup).toContain('source "logs"');
      expect(status.logs.newestPoint).not.toBeNull();
      expect(status.last.full?.id).not.toBe(status.logs.newestPoint?.id);
      const to = path.join(env.dir, 'restored', 'logs.sqlite');
      const rs = await runCli([
        'restore',
        'logs',
        '--to',
        to,
        '--at',
        out.logs.time,
        '--check',
        'full',
        '--config',
        env.configFile,
      ]);
      expect(rs.code, rs.stderr).toBe(0);
      expect(rs.stdout).toContain('restored log store point');
      const db = new Database(to, { readonly: true });
      const n = db.prepare('SELECT count(*) FROM logs').pluck().get() as number;
      db.close();
      expect(n).toBeGreaterThanOrEqual(30);
      const v = await runCli([
        'logs',
        'verify',
        '--no-anchors',
        '--config',
        configWithStore(env.configFile, to),
      ]);
      expect(v.code, v.stdout + v.stderr).toBe(0);

      const vr = await runCli(['verify', '--read-data', '--config', env.configFile]);
      expect(vr.code, vr.stdout + vr.stderr).toBe(0);
    } finally {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
  }, 120_000);

  it('restores the log store alone, without any shop database point', async () => {
    const env = await newEnv({ rows: 50 });
    for (let i = 0; i < 200; i++) await env.deps.log.info(`entry ${i}`);
    const b = await backupLogStore(env.deps, { mode: 'auto' });
    expect(b?.entry.source).toBe('logs');
    const points = await env.deps.repo.listPoints();
    expect(points.map((p) => p.source)).toEqual(['logs']);
    const to = path.join(env.dir, 'alone', 'logs.sqlite');
    const r = await restoreLogStore(env.deps, { to, check: 'full' });
    expect(r.point.id).toBe(b!.entry.id);
    expect(existsSync(to)).toBe(true);
    expect(r.tables.logs).toBeGreaterThanOrEqual(200);
    // the shop database has no point: `restore db` says so instead of restoring the log store
    const rdb = await runCli([
      'restore',
      'db',
      '--to',
      path.join(env.dir, 'x.sqlite'),
      '--config',
      env.configFile,
    ]);
    expect(rdb.code).toBe(1);
    expect(rdb.stderr).toContain('no database restore point');
    const v = await runCli([
      'logs',
      'verify',
      '--no-anchors',
      '--config',
      configWithStore(env.configFile, to),
    ]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 60_000);

  it('prune keeps the newest log-store point however many newer shop database points there are', async () => {
    const env = await newEnv({
      rows: 50,
      backup: { retention: { daily: 1, weekly: 0, monthly: 0, pointInTimeDays: 0 } },
    });
    await env.deps.log.info('before');
    const logs = await backupLogStore(env.deps, { mode: 'full' });
    const db1 = await backupDatabase(env.deps, { mode: 'full' });
    const db2 = await backupDatabase(env.deps, { mode: 'full' });
    await pruneRepository(env.deps, { dryRun: false });
    const left = (await env.deps.repo.listPoints()).map((p) => p.id);
    expect(left).toContain(logs!.entry.id);
    expect(left).toContain(db2.entry.id);
    expect(left).not.toContain(db1.entry.id);
  }, 60_000);

  it('the restore test also restores and checks the newest log-store point', async () => {
    const env = await newEnv({ rows: 50 });
    for (let i = 0; i < 100; i++) await env.deps.log.info(`entry ${i}`);
    await backupAll(env.deps);
    const r = await runRestoreTest(env.deps);
    const names = r.checks.filter((c) => c.name.startsWith('log store: ')).map((c) => `${c.name} ${c.ok}`);
    expect(names).toContain('log store: PRAGMA integrity_check true');
    expect(names).toContain('log store: row counts match the manifest true');
    expect(r.ok, JSON.stringify(r.checks)).toBe(true);
  }, 60_000);

  it('the drill recovers the log store too, from the repository and the identity alone', async () => {
    const env = await newEnv({ rows: 50 });
    for (let i = 0; i < 100; i++) await env.deps.log.info(`entry ${i}`);
    const all = await backupAll(env.deps);
    const r = await runDrill(env.deps);
    const step = r.steps.find((s) => s.name.startsWith('restore the log store'));
    expect(step?.ok, JSON.stringify(r.steps)).toBe(true);
    expect(r.logs?.point).toBe(all.logs!.entry.id);
    expect(r.ok).toBe(true);
  }, 60_000);

  it('the scheduled full and incremental jobs back the log store up too', async () => {
    const env = await newEnv({ rows: 200 });
    const jobs = scheduledJobs(env.deps, env.deps.logger);
    const run = async (name: string) =>
      (await jobs.find((j) => j.name === name)!.run(new AbortController().signal, { reason: 'schedule' }))!;
    const full = await run('full');
    expect(full.summary).toContain('log store full point');
    for (let i = 0; i < 50; i++) await env.deps.log.info(`after full ${i}`);
    const inc = await run('incremental');
    expect(inc.summary).toContain('log store incremental point');
    const points = await env.deps.repo.listPoints();
    expect(points.filter((p) => p.source === 'logs').map((p) => p.kind)).toEqual(['full', 'incremental']);
    expect(points.filter((p) => p.source === 'db').map((p) => p.kind)).toEqual(['full', 'incremental']);
    const to = path.join(env.dir, 'from-jobs', 'logs.sqlite');
    const r = await restoreLogStore(env.deps, { to, check: 'full' });
    expect(r.chain).toHaveLength(2);
  }, 60_000);
});
