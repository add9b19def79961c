/**
 * Starting a restored data directory as a server, as the configured OS user (PostgreSQL refuses
 * root): supervised (dies with us: restore tests, drills) or detached through pg_ctl (`restore db
 * --start`: the server is meant to outlive the command). Waits, bounded, until recovery has ended
 * (promoted) and the server accepts connections.
 */
import { existsSync, readFileSync, promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import type pg from 'pg';
import type { BackupDeps } from '../../context.js';
import { SafetynetError } from '../../../errors.js';
import { connect } from './conn.js';
import { pgTool, runTool, spawnSupervised } from './tools.js';
import { pgConfig } from './walstream.js';
import type { Phases } from './phases.js';
import { recoveryLogPhases } from './recovery-log.js';

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
  opts: { port?: number; detached?: boolean; timeoutMs?: number; phases?: Phases } = {},
): Promise<StartedServer> {
  const pgc = pgConfig(deps);
  const port = opts.port ?? (await freePort());
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const client = () => connect(pgc, { host: '127.0.0.1', port });
  let stop: () => Promise<void>;
  let pid = 0;
  let died: () => string | undefined;
  let serverLog: () => string;
  if (opts.detached) {
    const log = path.join(dataDir, 'safetynet-restore.log');
    serverLog = () => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    };
    await runTool(
      pgTool(pgc, 'pg_ctl'),
      ['start', '-D', dataDir, '-l', log, '-W', '-o', serverArgs(port).map(quoteOpt).join(' ')],
      { asUser: pgc.osUser, timeoutMs: 60_000 },
    );
    died = detachedDeath(dataDir, log);
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
    serverLog = () => child.stderr();
    let why: string | undefined;
    void child.exited.then(({ code, signal }) => {
      const out = child.stderr().trim().split('\n').slice(-8).join('\n');
      why = `postgres ${signal ? `was stopped by ${signal}` : `exited with code ${code}`}: ${out}`;
    });
    died = () => why;
    stop = async () => {
      if (child.child.exitCode !== null || child.child.signalCode !== null) return;
      child.child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.child.kill('SIGKILL'), 30_000);
      await child.exited;
      clearTimeout(t);
    };
  }
  opts.phases?.lap('serverStartMs');
  try {
    await waitPromoted(dataDir, client, timeoutMs, died, opts.phases);
  } catch (err) {
    await stop();
    throw err;
  }
  // The server's own view of its start (replay, end-of-recovery checkpoint), beside ours.
  if (opts.phases) for (const [k, v] of Object.entries(recoveryLogPhases(serverLog()))) opts.phases.add(k, v);
  return { port, pid, stop, client };
}

/** The postmaster's status line in postmaster.pid: "starting", "standby", "ready", "stopping". */
async function postmasterStatus(dataDir: string): Promise<string | 'missing' | 'unreadable'> {
  try {
    const lines = (await fsp.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
    return lines[7]?.trim() || 'starting';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
}

/**
 * A detached server has died when its postmaster.pid, once there, is gone (or never came within
 * 10 s); the reason is the tail of its log.
 */
function detachedDeath(dataDir: string, log: string): () => string | undefined {
  const since = Date.now();
  let seen = false;
  let why: string | undefined;
  return () => {
    if (why) return why;
    if (existsSync(path.join(dataDir, 'postmaster.pid'))) {
      seen = true;
      return undefined;
    }
    if (!seen && Date.now() - since < 10_000) return undefined;
    let tail = '';
    try {
      tail = readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n');
    } catch {
      // no log
    }
    why = `the server is not running: ${tail}`;
    return why;
  };
}

function quoteOpt(a: string): string {
  return a.startsWith('-') ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/**
 * Waits until the server is out of recovery and accepts connections. The postmaster writes
 * "ready" into postmaster.pid the moment recovery (and promotion) has ended, so a 10 ms look at
 * that file sees it at once, without a connection attempt every few hundred ms; one query then
 * confirms it. Where the file cannot be read, connections are polled instead.
 */
async function waitPromoted(
  dataDir: string,
  client: () => Promise<pg.Client>,
  timeoutMs: number,
  died: () => string | undefined,
  phases: Phases | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'starting';
  let byFile = true;
  const fail = (why: string) =>
    new SafetynetError('E_PG_RECOVERY', `the restored server stopped during recovery: ${why}`, {
      hint: 'a recovery target after the newest stored WAL, or a WAL gap, ends recovery early; see the message above',
    });
  while (Date.now() < deadline) {
    const why = died();
    if (why) throw fail(why);
    if (byFile) {
      const status = await postmasterStatus(dataDir);
      if (status === 'ready') break;
      if (status === 'unreadable') byFile = false;
      else last = status === 'missing' ? 'starting' : status;
    }
    if (!byFile && (await outOfRecovery(client).catch((e: Error) => void (last = e.message)))) break;
    await sleep(byFile ? 10 : 50);
  }
  phases?.lap('recoveryMs');
  // The status line comes first; the query proves it (a few tries while the socket opens).
  while (Date.now() < deadline) {
    const why = died();
    if (why) throw fail(why);
    try {
      if (await outOfRecovery(client)) {
        phases?.lap('readyMs');
        return;
      }
      last = 'still in recovery';
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(10);
  }
  throw new SafetynetError(
    'E_PG_RECOVERY_TIMEOUT',
    `the restored server did not finish recovery within ${Math.round(timeoutMs / 1000)} s (${last})`,
    { hint: 'see the server log in the data directory; a large WAL backlog needs more time' },
  );
}

async function outOfRecovery(client: () => Promise<pg.Client>): Promise<boolean> {
  const c = await client();
  try {
    return !(await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() r')).rows[0]!.r;
  } finally {
    await c.end().catch(() => {});
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
