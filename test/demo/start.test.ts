// `npm start` end to end: scripts/start.mjs with the BUILT CLI (`npm run build` first), the real
// `safetynet serve`, the real panel, the simulated shop. --no-build keeps it from rebuilding dist/
// while other tests use it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const START = fileURLToPath(new URL('../../scripts/start.mjs', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
  waitFor: (re: RegExp, ms?: number) => Promise<string>;
}

function start(cwd: string, port: number, args: string[] = []): Started {
  const child = spawn(process.execPath, [START, '--dir', 'demo', '--no-build', '--interval', '200ms', ...args], {
    cwd,
    env: { ...process.env, PORT: String(port), SAFETYNET_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (re: RegExp, ms = 30_000) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const m = re.exec(out);
      if (m) return m[1] ?? m[0];
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${re} in the output of npm start:\n${out}`);
  };
  return { child, output: () => out, exit, waitFor };
}

/** Logs in through the real login form; returns the session cookie. */
async function login(base: string, password: string): Promise<string> {
  const page = await fetch(`${base}/login`);
  const loginCookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const r = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
    body: new URLSearchParams({ user: 'admin', password, _csrf: csrf, next: '/logs' }).toString(),
  });
  expect([302, 303]).toContain(r.status);
  const session = r.headers.getSetCookie().find((c) => c.startsWith('sn_session='));
  expect(session).toBeTruthy();
  return session!.split(';')[0]!;
}

describe('npm start (scripts/start.mjs)', () => {
  it('builds the demo, starts serve and the shop, prints a working password, stops on Ctrl-C, resumes', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = start(cwd, port);
    const password = await first.waitFor(/Password: +(\S+)/);
    await first.waitFor(new RegExp(`Ready: ${base}/`));

    // The printed password logs in, and the Logs page shows the simulated shop.
    const cookie = await login(base, password);
    let logs = '';
    for (let i = 0; i < 50 && !/webhook/.test(logs); i++) {
      logs = await (await fetch(`${base}/logs?category=webhook`, { headers: { cookie } })).text();
      if (!/webhook/.test(logs)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs).toMatch(/stripe webhook evt_/);

    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
    expect(first.output()).toContain('Stopping the demo');
    const db = new Database(path.join(cwd, 'demo/data/shop.sqlite'), { readonly: true });
    const orders = (db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n;
    db.close();
    expect(orders).toBeGreaterThan(600);

    // A second start keeps everything: no new account, no password, same data.
    const second = start(cwd, port, ['--no-activity']);
    await second.waitFor(new RegExp(`Ready: ${base}/`));
    expect(second.output()).toContain('the account "admin" exists');
    expect(second.output()).toContain('npx safetynet --config demo/safetynet.config.json admin passwd --user admin');
    expect(second.output()).not.toContain(password);
    await login(base, password);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });

  it('refuses to start when the port is taken, and starts nothing', async () => {
    const cwd = tempDir();
    const blocker = createServer((s) => s.end());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const run = start(cwd, port);
      expect(await run.exit).toBe(3);
      expect(run.output()).toContain(`something already listens on 127.0.0.1:${port}`);
      expect(run.output()).toContain(`PORT=${port + 1} npm start`);
      expect(run.output()).not.toContain('safetynet serve:');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
