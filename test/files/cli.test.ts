/**
 * The file commands as a user runs them: `safetynet backup files` and `safetynet restore files`
 * as the built CLI in a child process, exit codes, --json, messages. The unreadable-file case
 * runs the CLI as root without CAP_DAC_OVERRIDE, since plain root reads any file whatever its mode.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFilesEnv, put, type FilesEnv } from './env.js';
import { CLI } from '../helpers/cli.js';
import { withoutPermissionBypass } from '../helpers/no-dac.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(e: FilesEnv, args: string[], opts: { noPermissionBypass?: boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = opts.noPermissionBypass
      ? withoutPermissionBypass(process.execPath, [CLI, '--config', e.configFile, ...args])
      : [process.execPath, [CLI, '--config', e.configFile, ...args]];
    const child = spawn(cmd, argv, { cwd: e.dir, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

let env: FilesEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe('safetynet backup files / restore files', () => {
  it('backs up, restores one file, refuses to overwrite without --force, and says why', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'invoices/2026/INV-000042.pdf'), '%PDF-1.4 forty-two');
    put(path.join(env.shop, 'images/p.jpg'), 'image');
    const b = await cli(env, ['backup', 'files', '--json']);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const point = JSON.parse(b.stdout) as {
      id: string;
      files: number;
      incomplete: boolean;
      sets: string[];
      objects: string[];
    };
    expect(point).toMatchObject({ files: 2, incomplete: false, sets: ['invoices', 'images'] });
    expect(point.objects.every((k) => k.startsWith('chunks/'))).toBe(true);

    const to = path.join(env.dir, 'restored');
    const r = await cli(env, ['restore', 'files', '--to', to, '--path', '2026/INV-000042.pdf']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored 1 file\(s\).*1 SHA-256 verified/);
    expect(readFileSync(path.join(to, 'invoices/2026/INV-000042.pdf'), 'utf8')).toBe('%PDF-1.4 forty-two');

    const again = await cli(env, ['restore', 'files', '--to', to, '--path', '2026/INV-000042.pdf']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('[E_RESTORE_EXISTS]');
    expect(again.stderr).toContain('hint: restore into an empty folder, or add --force');
    const forced = await cli(env, [
      'restore',
      'files',
      '--to',
      to,
      '--path',
      '2026/INV-000042.pdf',
      '--force',
      '--json',
    ]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ ok: true, files: 1, verified: 1 });

    const unknown = await cli(env, ['backup', 'files', '--set', 'receipts']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('there is no file set named "receipts"');
    expect(unknown.stderr).toContain('use one of: invoices, images');
  });

  it('reports an unreadable file by name, finishes the point as incomplete, and exits 1', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'invoices/ok.pdf'), 'readable');
    put(path.join(env.shop, 'invoices/locked.pdf'), 'secret');
    // One file nobody may read; the backup runs as root without the capability to ignore that.
    chmodSync(path.join(env.shop, 'invoices/locked.pdf'), 0o000);
    const b = await cli(env, ['backup', 'files'], { noPermissionBypass: true });
    expect(b.code).toBe(1);
    expect(b.stdout).toContain('INCOMPLETE: 1 path(s) could not be backed up');
    expect(b.stdout).toMatch(/invoices\/locked\.pdf: cannot be read \(EACCES/);
    const catalog = path.join(env.dir, 'data/backups/catalog');
    const entry = JSON.parse(readFileSync(path.join(catalog, readdirSync(catalog)[0]!), 'utf8')) as {
      incomplete?: boolean;
    };
    expect(entry.incomplete).toBe(true);

    const to = path.join(env.dir, 'restored');
    const r = await cli(env, ['restore', 'files', '--to', to, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ files: 1, points: [{ incomplete: true }] });
    expect(existsSync(path.join(to, 'invoices/ok.pdf'))).toBe(true);
    expect(existsSync(path.join(to, 'invoices/locked.pdf'))).toBe(false);
  });

  it('after a configured folder is lost, restore files still runs and brings it back; a backup meanwhile reports the set', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'invoices/2026/INV-7.pdf'), '%PDF-1.4 seven');
    put(path.join(env.shop, 'images/p.jpg'), 'image');
    expect((await cli(env, ['backup', 'files'])).code).toBe(0);
    rmSync(path.join(env.shop, 'invoices'), { recursive: true, force: true }); // the disk that held it died

    // The config still loads (a warning names the field), so a backup of the other set goes on and
    // the lost set is a problem of the point, not silently skipped.
    const b = await cli(env, ['backup', 'files']);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('backup.files[0].path');
    expect(b.stdout).toContain('INCOMPLETE');
    expect(b.stdout).toContain('does not exist');

    // The restore that matters: the invoices come back from the point that still held them.
    const to = path.join(env.dir, 'restored');
    const r = await cli(env, ['restore', 'files', '--to', to, '--set', 'invoices', '--json']);
    expect(r.stderr).not.toContain('E_CONFIG');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(to, 'invoices/2026/INV-7.pdf'), 'utf8')).toBe('%PDF-1.4 seven');
  });
});
