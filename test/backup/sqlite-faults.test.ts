import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backupDatabase, restoreDatabase } from '../../src/backup/database.js';
import type { SqliteManifest } from '../../src/backup/repo/types.js';
import { resolveConfig } from '../../src/config/index.js';
import { expectCode, useTestEnvs } from './env.js';
import { startS3Server } from '../helpers/s3.js';
import { CLI, runCli } from '../helpers/cli.js';

const env = useTestEnvs();

const WRITER = fileURLToPath(new URL('./writer-child.cjs', import.meta.url));

describe('SQLite backups under load and faults', () => {
  it('finishes on a busy database and every point restores to a consistent database', async () => {
    const e = await env({ rows: 20_000 });
    const child = spawn(process.execPath, [WRITER, e.config.database.path], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    try {
      const points = [];
      points.push(await backupDatabase(e.deps, { mode: 'full' }));
      for (let i = 0; i < 3; i++) points.push(await backupDatabase(e.deps, { mode: 'incremental' }));
      expect(points.map((p) => p.kind)).toEqual(['full', 'incremental', 'incremental', 'incremental']);
      expect(points.slice(1).every((p) => (p.facts.changedPages as number) > 0)).toBe(true);
      for (const p of points) {
        const to = path.join(e.dir, 'restored', `${p.entry.id}.sqlite`);
        const r = await restoreDatabase(e.deps, {
          to,
          pointId: p.entry.id,
          foreignKeyCheck: true,
          check: 'full',
        });
        expect(r.integrity).toBe('ok');
        expect(r.foreignKeyViolations).toBe(0);
        // Row counts taken inside the snapshot equal what the restored file holds: one consistent moment.
        const m = await e.deps.repo.readManifest<SqliteManifest>(p.entry);
        expect(r.tables).toEqual(m.database.tables);
      }
    } finally {
      child.stdin.end();
      await new Promise((r) => child.on('close', r));
    }
  });

  it('the backup-api fallback produces the same database as the locked read', async () => {
    const e = await env({ rows: 3000 });
    const a = await backupDatabase(e.deps, { mode: 'full', snapshotMethod: 'locked-read' });
    const b = await backupDatabase(e.deps, { mode: 'full', snapshotMethod: 'backup-api' });
    expect(b.facts.snapshotMethod).toBe('backup-api');
    const ma = await e.deps.repo.readManifest<SqliteManifest>(a.entry);
    const mb = await e.deps.repo.readManifest<SqliteManifest>(b.entry);
    expect(mb.database.tables).toEqual(ma.database.tables);
    const to = path.join(e.dir, 'b.sqlite');
    const r = await restoreDatabase(e.deps, { to, pointId: b.entry.id });
    expect(r.sha256).toBe(mb.database.sha256);
    expect(readdirSync(path.join(e.config.backup.stateDir, 'staging'))).toEqual([]);
  });

  it('a backup killed with SIGKILL leaves no visible point; the next run reports the stale lock and succeeds', async () => {
    const e = await env({ rows: 120_000 });
    const repoDir = e.deps.repo.storage.localPath!;
    const child = spawn(process.execPath, [CLI, '--config', e.configFile, 'backup', 'db', '--full'], {
      stdio: 'ignore',
    });
    // Wait until it has stored at least one data object, then kill it mid-run.
    const dataDir = path.join(repoDir, 'data');
    const deadline = Date.now() + 30_000;
    while (!(
      existsSync(dataDir) && readdirSync(dataDir).some((d) => readdirSync(path.join(dataDir, d)).length > 0)
    )) {
      if (Date.now() > deadline) throw new Error('the backup never wrote a data object');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(await e.deps.repo.listPoints()).toEqual([]);
    expect(readdirSync(path.join(repoDir, 'locks')).length).toBe(1);

    const r = await runCli(['--config', e.configFile, 'backup', 'db', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).kind).toBe('full');
    const locks = path.join(repoDir, 'locks');
    expect(existsSync(locks) ? readdirSync(locks) : []).toEqual([]);
    const log = await runCli([
      '--config',
      e.configFile,
      'logs',
      'search',
      '--category',
      'backup',
      '--text',
      'stale',
      '--json',
    ]);
    expect(log.stdout).toMatch(/removed a stale repository lock left by pid \d+/);
    // The killed run's leftovers are swept by prune (orphans), never by a backup.
    const prune = await runCli(['--config', e.configFile, 'prune', '--json']);
    expect(JSON.parse(prune.stdout).orphans).toBeGreaterThan(0);
  });

  it('a second backup while one runs is refused with a message naming the holder', async () => {
    const e = await env();
    await e.deps.repo.prepareForWrite();
    const held = await e.deps.repo.lock('backup db full', true);
    try {
      const err = await expectCode(backupDatabase(e.deps, { mode: 'full' }), 'E_LOCKED');
      expect(err.message).toContain(`held by pid ${process.pid}`);
    } finally {
      await held.release();
    }
    expect((await backupDatabase(e.deps, { mode: 'full' })).kind).toBe('full');
  });

  it('refuses to restore onto a disk that cannot hold the database, leaving nothing behind', async () => {
    const e = await env({ rows: 20_000 });
    await backupDatabase(e.deps, { mode: 'full' });
    const small = path.join(e.dir, 'small-disk');
    mkdirSync(small);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    if (m.status !== 0) throw new Error(`cannot mount a tmpfs here: ${m.stderr}`);
    try {
      const err = await expectCode(
        restoreDatabase(e.deps, { to: path.join(small, 'shop.sqlite') }),
        'E_NO_SPACE',
      );
      expect(err.message).toMatch(/needs .* free/);
      expect(readdirSync(small)).toEqual([]);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('backs up to and restores from an S3-compatible bucket (real s3rver on loopback)', async () => {
    const s3 = await startS3Server();
    try {
      const base = await env({ rows: 5000 });
      const raw = {
        backup: {
          ...s3.config('shop-prod'),
          recipients: [base.recipient],
          identity: base.identityFile,
          timezone: 'UTC',
          stateDir: path.join(base.dir, 's3-state'),
        },
        database: { path: base.config.database.path },
        logs: { store: { path: path.join(base.dir, 'logs.sqlite') } },
      };
      const config = resolveConfig(raw, { file: null, baseDir: base.dir, env: {} });
      Object.assign(process.env, s3.env);
      const deps = await base.makeDeps({ config });
      const full = await backupDatabase(deps, { mode: 'full' });
      new Database(config.database.path).exec("UPDATE orders SET status = 'shipped' WHERE id < 100");
      const inc = await backupDatabase(deps, { mode: 'incremental' });
      expect(inc.entry.parent).toBe(full.entry.id);
      const to = path.join(base.dir, 'from-s3.sqlite');
      const r = await restoreDatabase(deps, { to });
      expect(r.chain).toHaveLength(2);
      const db = new Database(to, { readonly: true });
      expect(db.prepare("SELECT count(*) FROM orders WHERE status = 'shipped'").pluck().get()).toBe(99);
      db.close();
    } finally {
      await s3.close();
    }
  });

  it('an unreachable bucket is a clear error that names the endpoint', async () => {
    const e = await env();
    const config = resolveConfig(
      {
        backup: {
          repository: 's3://shop-backups/x',
          s3: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true },
          recipients: [e.recipient],
          stateDir: path.join(e.dir, 'st'),
        },
        database: { path: e.config.database.path },
        logs: { store: { path: path.join(e.dir, 'logs2.sqlite') } },
      },
      { file: null, baseDir: e.dir, env: {} },
    );
    process.env.AWS_ACCESS_KEY_ID ??= 'x';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'y';
    const deps = await e.makeDeps({ config });
    const err = await expectCode(backupDatabase(deps, { mode: 'full' }), 'E_STORAGE_UNREACHABLE');
    expect(err.message).toContain('127.0.0.1:9');
  });
});
