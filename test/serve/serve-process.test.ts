/**
 * A real `safetynet serve` process: it catches up missed runs at start, a SIGTERM mid-job stops it
 * cleanly (exit 0, no half restore point, locks released), the next start catches up, and a second
 * serve for the same repository is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createTestEnv, type TestEnv } from '../backup/env.js';
import { CLI, runCli } from '../helpers/cli.js';

const envs: TestEnv[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const e of envs.splice(0)) await e.close();
});

function startServe(configFile: string): {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [CLI, '--config', configFile, 'serve', '--catch-up-delay', '0s'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function catalog(repoDir: string): string[] {
  const dir = path.join(repoDir, 'catalog');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('safetynet serve (a real process)', () => {
  it('catches up at start, stops cleanly on SIGTERM mid-job, catches up again, and refuses a second instance', async () => {
    const e = await createTestEnv({ rows: 400_000 });
    envs.push(e);
    const raw = JSON.parse(readFileSync(e.configFile, 'utf8'));
    raw.admin = { port: 0 };
    raw.backup.files = [{ name: 'config', path: '.', include: ['safetynet.config.json'] }];
    writeFileSync(e.configFile, JSON.stringify(raw));
    const repoDir = path.join(e.dir, 'data', 'backups');

    // 1. Fresh start: the missed full backup starts at once; SIGTERM while its parts are being written.
    const first = startServe(e.configFile);
    await waitFor('the first data object', () => {
      const data = path.join(repoDir, 'data');
      return existsSync(data) && readdirSync(data).some((d) => readdirSync(path.join(data, d)).length > 0);
    });
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stderr()).toMatch(/SIGTERM received, stopping/);
    // No half point: nothing in the catalog, or only complete points; no lock left behind.
    for (const dir of ['locks', 'instance'])
      expect(existsSync(path.join(repoDir, dir)) ? readdirSync(path.join(repoDir, dir)) : []).toEqual([]);
    expect(catalog(repoDir)).toEqual([]);
    const jobLog = await runCli([
      '--config',
      e.configFile,
      'logs',
      'search',
      '--category',
      'backup',
      '--json',
      '--limit',
      '100',
    ]);
    const messages = jobLog.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).message as string);
    expect(messages.some((m) => /^job full started \(catch-up/.test(m))).toBe(true);
    expect(messages.some((m) => /^job full aborted/.test(m))).toBe(true);
    expect(messages.some((m) => /^database backup stopped before it finished/.test(m))).toBe(true);
    expect(messages.some((m) => /^scheduler stopped/.test(m))).toBe(true);

    // 2. Next start: the aborted full is caught up and completes.
    const second = startServe(e.configFile);
    await waitFor(
      'a full database point',
      () => catalog(repoDir).some((k) => k.includes('_db_full')),
      120_000,
    );
    // 3. A second serve for the same repository is refused, naming the first.
    const third = await runCli(['--config', e.configFile, 'serve', '--no-panel']);
    expect(third.code).toBe(3);
    expect(third.stderr).toMatch(/another safetynet serve already runs .* \(pid \d+ on /);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const verify = await runCli(['--config', e.configFile, 'verify', '--read-data', '--json']);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    const status = await runCli(['--config', e.configFile, 'status', '--json']);
    const report = JSON.parse(status.stdout);
    expect(report.jobs.find((j: { name: string }) => j.name === 'full').lastRun.outcome).toBe('success');
  });
});
