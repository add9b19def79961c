// Runs the BUILT CLI (dist/cli/main.js): `npm run build` first.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { initDemo } from '../../src/demo/init.js';
import { CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

function orders(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('safetynet demo (CLI)', () => {
  it('init prints the account once; activity --count runs the showcase; bad flags are usage errors', async () => {
    const cwd = tempDir();
    const first = await runCli(['demo', 'init', '--dir', 'shop-demo', '--seed', '3'], { cwd, env: { PORT: '' } });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('created  data/shop.sqlite');
    expect(first.stdout).toContain('Admin panel:  http://127.0.0.1:3000/');
    const password = /Password: +(\S+)/.exec(first.stdout)?.[1];
    expect(password).toMatch(/^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/);
    expect(first.stdout).toContain('npx safetynet --config shop-demo/safetynet.config.json admin passwd --user admin');

    const second = await runCli(['demo', 'init', '--dir', 'shop-demo', '--json'], { cwd, env: { PORT: '' } });
    expect(second.code, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout) as { created: unknown[]; admin: { created: boolean; password?: string } };
    expect(report.created).toEqual([]);
    expect(report.admin.created).toBe(false);
    expect(second.stdout).not.toContain(password!);

    const config = path.join(cwd, 'shop-demo/safetynet.config.json');
    const dbFile = path.join(cwd, 'shop-demo/data/shop.sqlite');
    const before = orders(dbFile);
    const run = await runCli(
      ['--config', config, 'demo', 'activity', '--count', '3', '--interval', '0s', '--showcase', '--seed', '4', '--json'],
      { cwd },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ orders: 3, securityEvents: 1, failedPayments: 1, seed: 4 });
    expect(orders(dbFile)).toBe(before + 3);

    const bad = await runCli(['--config', config, 'demo', 'activity', '--interval', 'soon'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--interval: "soon" is not a duration');
    expect(bad.stderr).toContain('hint:');
    const zero = await runCli(['--config', config, 'demo', 'activity', '--count', '0'], { cwd });
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--count: "0"');
  });

  it('activity without a demo database says how to make one', async () => {
    const cwd = tempDir();
    const r = await runCli(['demo', 'activity', '--count', '1'], { cwd, env: { SAFETYNET_CONFIG: '' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[E_DEMO_DB]');
    expect(r.stderr).toContain('demo init');
  });

  it('activity stops on SIGTERM between orders and exits 0', async () => {
    const cwd = tempDir();
    await initDemo({ dir: path.join(cwd, 'demo'), seed: 1, scrypt: { N: 2 ** 12, r: 8, p: 1 }, sizes: { orders: 50 } });
    const dbFile = path.join(cwd, 'demo/data/shop.sqlite');
    const before = orders(dbFile);
    const child = spawn(
      process.execPath,
      [CLI, '--config', 'demo/safetynet.config.json', 'demo', 'activity', '--interval', '100ms'],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 100 && orders(dbFile) < before + 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(orders(dbFile)).toBeGreaterThanOrEqual(before + 2);
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr).toMatch(/demo activity: \d+ orders .*; stopped/);
  });
});
