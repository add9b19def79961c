import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { backupDatabase } from '../../src/backup/database.js';
import { runRestoreTest } from '../../src/backup/restore-test.js';
import { drillMarkdown, runDrill } from '../../src/backup/drill.js';
import { buildStatus } from '../../src/backup/status.js';
import { resolveConfig } from '../../src/config/index.js';
import { ManualClock } from '../../src/clock.js';
import { useTestEnvs } from './env.js';
import { runCli } from '../helpers/cli.js';

const env = useTestEnvs();
const mounts: string[] = [];
afterEach(async () => {
  for (const m of mounts.splice(0)) spawnSync('umount', [m]);
});

describe('restore test', () => {
  it('passes on a sound repository, records every check in the history, and status shows it', async () => {
    const e = await env({ rows: 3000 });
    await backupDatabase(e.deps, { mode: 'full' });
    await backupDatabase(e.deps, { mode: 'incremental' });
    const r = await runRestoreTest(e.deps);
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual([
      'objects decrypt and match the manifest',
      'SHA-256 matches the manifest',
      'PRAGMA integrity_check',
      'PRAGMA foreign_key_check',
      'row counts match the manifest',
    ]);
    const history = await e.deps.repo.listHistory('restore-test');
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ ok: true, id: r.id });
    const status = await buildStatus(e.deps);
    expect(status.restoreTest).toMatchObject({ ok: true, id: r.id });
  });

  it('detects a corrupted object, says which check failed, and the CLI exits 1', async () => {
    const e = await env({ rows: 3000 });
    const full = await backupDatabase(e.deps, { mode: 'full' });
    const file = path.join(e.deps.repo.storage.localPath!, full.entry.objects[0]!.key);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(file, bytes);
    const r = await runRestoreTest(e.deps);
    expect(r.ok).toBe(false);
    expect(r.failed).toBe('objects decrypt and match the manifest');
    expect(r.checks.find((c) => !c.ok)!.detail).toContain(full.entry.objects[0]!.key);
    const cli = await runCli(['--config', e.configFile, 'restore-test']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/^FAILED objects decrypt and match the manifest: .*E_OBJECT_CORRUPT/m);
    const status = await buildStatus(e.deps);
    expect(status.warnings.join('\n')).toMatch(/last restore test .* FAILED/);
  });
});

describe('disaster-recovery drill', () => {
  it('measures RPO as the age of the newest database point and RTO as the recovery time, against the objectives', async () => {
    const clock = new ManualClock(Date.parse('2026-06-01T10:00:00Z'));
    const e = await env({ clock, rows: 3000, backup: { objectives: { rpo: '10m', rto: '4h' } } });
    await backupDatabase(e.deps, { mode: 'full' });
    clock.advance(30 * 60_000);
    const inc = await backupDatabase(e.deps, { mode: 'incremental' });
    clock.advance(7 * 60_000);
    const r = await runDrill(e.deps);
    expect(r.rpoMs).toBe(7 * 60_000);
    expect(r.rpoMs).toBe(Date.parse(r.startedAt) - Date.parse(inc.entry.time));
    expect(r.database).toMatchObject({ point: inc.entry.id });
    expect(r.steps.every((s) => s.ok)).toBe(true);
    expect(r.rtoMs).toBeGreaterThanOrEqual(r.steps.reduce((n, s) => n + s.ms, 0) - 5);
    expect(r).toMatchObject({ rpoPass: true, rtoPass: true, ok: true });
    const md = drillMarkdown(r);
    expect(md).toMatch(/\| RPO .* \| 10 min 0 s \| 7 min 0 s \| \*\*PASS\*\* \|/);
    expect(md).toContain('restore the database (newest point) and check it');

    clock.advance(5 * 60_000); // now 12 minutes old: over the 10-minute objective
    const late = await runDrill(e.deps);
    expect(late).toMatchObject({ rpoMs: 12 * 60_000, rpoPass: false, ok: false });
    expect((await e.deps.repo.listHistory('drill')).map((h) => h.ok)).toEqual([true, false]);
  });

  it('the CLI writes the report and exits 1 when an objective is missed', async () => {
    const e = await env({ backup: { objectives: { rpo: '1h', rto: '1ms' } } });
    await backupDatabase(e.deps, { mode: 'full' });
    const out = path.join(e.dir, 'report.md');
    const r = await runCli(['--config', e.configFile, 'drill', '--out', out]);
    expect(r.code).toBe(1);
    expect(readFileSync(out, 'utf8')).toMatch(/\| RTO .* \*\*FAIL\*\* \|/);
  });
});

describe('status', () => {
  it('warns about a repository on the database disk, a missing identity, no restore test; exit 1', async () => {
    const e = await env();
    await backupDatabase(e.deps, { mode: 'full' });
    const noKey = await e.makeDeps({
      config: { ...e.config, backup: { ...e.config.backup, identity: path.join(e.dir, 'gone.txt') } },
    });
    const s = await buildStatus(noKey);
    expect(s.healthy).toBe(false);
    const w = s.warnings.join('\n');
    expect(w).toMatch(/same file system as the database/);
    expect(w).toMatch(/identity file .*gone\.txt is missing: restore tests are impossible/);
    expect(w).toMatch(/no restore test has been run yet/);
    expect(s.last.full).toMatchObject({ kind: 'full' });
    expect(s.jobs.map((j) => j.name)).toEqual([
      'full',
      'incremental',
      'files',
      'retention',
      'log-retention',
      'restore-test',
      'read-verify',
    ]);
    const cli = await runCli(['--config', e.configFile, 'status', '--json']);
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stdout).healthy).toBe(false);
  });

  it('is healthy (exit 0) with the repository on another disk, a fresh backup and a passed restore test', async () => {
    const base = await env();
    const disk = path.join(base.dir, 'backup-disk');
    mkdirSync(disk);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', disk]);
    if (m.status !== 0) throw new Error(`cannot mount a tmpfs here: ${m.stderr}`);
    mounts.push(disk);
    const raw = JSON.parse(readFileSync(base.configFile, 'utf8'));
    raw.backup.repository = path.join(disk, 'repo');
    raw.backup.files = [{ name: 'config', path: '.', include: ['safetynet.config.json'] }];
    writeFileSync(base.configFile, JSON.stringify(raw));
    const config = resolveConfig(raw, { file: base.configFile, baseDir: base.dir, env: {} });
    const deps = await base.makeDeps({ config });
    await backupDatabase(deps, { mode: 'full' });
    expect((await runRestoreTest(deps)).ok).toBe(true);
    const s = await buildStatus(deps);
    expect(s.warnings).toEqual([]);
    const cli = await runCli(['--config', base.configFile, 'status']);
    expect(cli.stdout).toMatch(/^HEALTHY/);
    expect(cli.code).toBe(0);
  });
});

describe('status on a rollback-journal database', () => {
  it('warns that backups block the shop while they read', async () => {
    const e = await env();
    await backupDatabase(e.deps, { mode: 'full' });
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(e.config.database.path);
    db.pragma('journal_mode = DELETE');
    db.close();
    expect((await buildStatus(e.deps)).warnings.join('\n')).toMatch(/is not in WAL mode/);
  });
});
