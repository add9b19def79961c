/**
 * Starting a restored data directory as a server, as the configured OS user (PostgreSQL refuses
 * root): supervised (dies with us: restore tests, drills) or detached through pg_ctl (`restore db
 * --start`: the server is meant to outlive the command). Waits, bounded, until recovery has ended
 * (promoted) and the server accepts connections.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import type pg from 'pg';
import type { BackupDeps } from '../../context.js';
import { SafetynetError } from '../../../errors.js';
import { connect } from './conn.js';
import { pgTool, runTool, spawnSupervised } from './tools.js';
import { pgConfig } from './walstream.js';

export interface StartedServer {
  port: number;
  pid: number;
  /** Fast shutdown (then kill); resolves when it is gone. */
  stop(): Promise<void>;
  /** A client connected to the restored database. */
  client(): Promise<pg.Client>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Server options that make a restored cluster safe and reachable on `port` only. */
function serverArgs(port: number): string[] {
  return [
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'archive_mode=off',
  ];
}

/** Starts `dataDir` and waits until it is promoted and accepts connections. */
export async function startServer(
  deps: BackupDeps,
  dataDir: string,
  opts: { port?: number; detached?: boolean; timeoutMs?: number } = {},
): Promise<StartedServer> {
  const pgc = pgConfig(deps);
  const port = opts.port ?? (await freePort());
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const client = () => connect(pgc, { host: '127.0.0.1', port });
  let stop: () => Promise<void>;
  let pid = 0;
  let exitedEarly: Promise<string> | undefined;
  if (opts.detached) {
    const log = path.join(dataDir, 'safetynet-restore.log');
    exitedEarly = watchDetached(dataDir, log);
    await runTool(
      pgTool(pgc, 'pg_ctl'),
      ['start', '-D', dataDir, '-l', log, '-W', '-o', serverArgs(port).map(quoteOpt).join(' ')],
      { asUser: pgc.osUser, timeoutMs: 60_000 },
    );
    stop = async () => {
      await runTool(pgTool(pgc, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w'], {
        asUser: pgc.osUser,
        timeoutMs: 120_000,
      }).catch(() => {});
    };
  } else {
    const child = spawnSupervised(pgTool(pgc, 'postgres'), ['-D', dataDir, ...serverArgs(port)], {
      asUser: pgc.osUser,
      stdio: 'ignore',
      onStderr: () => {},
    });
    pid = child.child.pid ?? 0;
    exitedEarly = child.exited.then(({ code, signal }) => {
      const out = child.stderr().trim().split('\n').slice(-8).join('\n');
      return `postgres ${signal ? `was stopped by ${signal}` : `exited with code ${code}`}: ${out}`;
    });
    stop = async () => {
      if (child.child.exitCode !== null || child.child.signalCode !== null) return;
      child.child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.child.kill('SIGKILL'), 30_000);
      await child.exited;
      clearTimeout(t);
    };
  }
  try {
    await waitPromoted(client, timeoutMs, exitedEarly);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, pid, stop, client };
}

/** Resolves (with the log's tail) when a detached server's postmaster.pid disappears. */
function watchDetached(dataDir: string, log: string): Promise<string> {
  return new Promise((resolve) => {
    const since = Date.now();
    const t = setInterval(() => {
      if (existsSync(path.join(dataDir, 'postmaster.pid'))) return;
      if (Date.now() - since < 3000) return;
      clearInterval(t);
      let tail = '';
      try {
        tail = readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n');
      } catch {
        // no log
      }
      resolve(`the server is not running: ${tail}`);
    }, 250);
    t.unref();
  });
}

function quoteOpt(a: string): string {
  return a.startsWith('-') ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/** Waits until the server accepts connections and is out of recovery. */
async function waitPromoted(
  client: () => Promise<pg.Client>,
  timeoutMs: number,
  exited: Promise<string> | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died: string | undefined;
  void exited?.then((why) => (died = why));
  let last = '';
  while (Date.now() < deadline) {
    if (died) {
      throw new SafetynetError('E_PG_RECOVERY', `the restored server stopped during recovery: ${died}`, {
        hint: 'a recovery target after the newest stored WAL, or a WAL gap, ends recovery early; see the message above',
      });
    }
    try {
      const c = await client();
      try {
        const r = await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() r');
        if (!r.rows[0]!.r) return;
        last = 'still in recovery';
      } finally {
        await c.end().catch(() => {});
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new SafetynetError(
    'E_PG_RECOVERY_TIMEOUT',
    `the restored server did not finish recovery within ${Math.round(timeoutMs / 1000)} s (${last})`,
    { hint: 'see the server log in the data directory; a large WAL backlog needs more time' },
  );
}
