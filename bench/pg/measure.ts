/**
 * Measuring one command of the PostgreSQL benchmark: wall time, the CPU of the command and its
 * children (`/usr/bin/time`: what the tool itself burns), the CPU the database server spent
 * meanwhile (its processes' counters in /proc: a walsender for us, the archiver's archive-push
 * for pgBackRest), the load average, and how long until a restored server accepts writes.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import pg from 'pg';

const TICK_MS = 1000 / 100; // USER_HZ on Linux

export interface Measured {
  wallMs: number;
  /** user + system CPU of the command and the children it waited for. */
  cpuMs: number;
  /** CPU the source cluster's processes spent during the command. */
  serverCpuMs: number;
  load1: number;
  stdout: string;
  stderr: string;
  code: number;
}

/** CPU (ms) of the postmaster `pid` and every process below it, including reaped children. */
export function clusterCpuMs(postmasterPid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // fields after the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
      stats.set(Number(name), {
        ppid: Number(f[1]),
        ticks: [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0),
      });
    } catch {
      // gone
    }
  }
  const under = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 64; p = stats.get(p)?.ppid ?? 0, n++)
      if (p === postmasterPid) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of stats) if (under(pid)) ticks += s.ticks;
  return ticks * TICK_MS;
}

/** The postmaster's pid of a data directory. */
export function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/**
 * Runs `cmd args` under /usr/bin/time and measures it. `watch` runs alongside (a writability
 * poller) and its result is returned too.
 */
export async function measure<T = undefined>(
  cmd: string,
  args: string[],
  opts: {
    serverPid: number;
    env?: NodeJS.ProcessEnv;
    watch?: (started: number, signal: AbortSignal) => Promise<T>;
  },
): Promise<Measured & { watched?: T }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pg-bench-time-'));
  const timeFile = path.join(dir, 'time');
  const load1 = Math.round(loadavg()[0]! * 100) / 100;
  const server0 = clusterCpuMs(opts.serverPid);
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stopWatching = new AbortController();
  const watching = opts.watch?.(t0, stopWatching.signal);
  watching?.catch(() => {});
  const code = await new Promise<number>((r) => child.once('close', (c) => r(c ?? -1)));
  if (code !== 0) stopWatching.abort(); // it will never become writable
  const wallMs = performance.now() - t0;
  const serverCpuMs = clusterCpuMs(opts.serverPid) - server0;
  let cpuMs = NaN;
  try {
    const [u, s] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    cpuMs = (u! + s!) * 1000;
  } catch {
    // time wrote nothing
  }
  rmSync(dir, { recursive: true, force: true });
  const watched = watching ? await watching : undefined;
  return { wallMs, cpuMs, serverCpuMs, load1, stdout, stderr, code, ...(watching ? { watched } : {}) };
}

/**
 * Milliseconds from `since` until a server on `port` accepts a connection and is out of recovery
 * (polled every 20 ms, the same for both tools).
 */
export async function untilWritable(
  port: number,
  since: number,
  signal?: AbortSignal,
  timeoutMs = 600_000,
): Promise<number> {
  const deadline = since + timeoutMs;
  while (performance.now() < deadline && !signal?.aborted) {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
    try {
      await c.connect();
      const r = (await c.query('SELECT pg_is_in_recovery() r')).rows[0].r as boolean;
      if (!r) return performance.now() - since;
    } catch {
      // not yet
    } finally {
      await c.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `the server on port ${port} did not accept writes${signal?.aborted ? '' : ` within ${timeoutMs / 1000} s`}`,
  );
}

/** Median of a list. */
export function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
