/**
 * PostgreSQL's programs as supervised children. Every child runs under `setpriv --pdeathsig`, so
 * the kernel kills it when safetynet dies — even by SIGKILL — and none outlives us; its stderr is
 * kept (bounded) and goes into the typed error (E_PG_COMMAND) that names the command when it fails.
 * Servers run as the configured OS user when safetynet runs as root (PostgreSQL refuses root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { SafetynetError } from '../../../errors.js';
import type { PostgresSourceConfig } from '../../../config/types.js';

/** At most this much of a child's stderr is kept for errors and logs. */
const STDERR_LIMIT = 16 * 1024;

/** Finds a PostgreSQL program: binDir, then PATH, then the newest /usr/lib/postgresql/<v>/bin. */
export function pgTool(pg: Pick<PostgresSourceConfig, 'binDir'>, name: string): string {
  const dirs: string[] = [];
  if (pg.binDir) dirs.push(pg.binDir);
  else {
    dirs.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
    try {
      const versions = readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a));
      for (const v of versions) dirs.push(`/usr/lib/postgresql/${v}/bin`);
    } catch {
      // no Debian layout
    }
  }
  for (const d of dirs) {
    const p = path.join(d, name);
    if (existsSync(p)) return p;
  }
  throw new SafetynetError('E_PG_TOOL_MISSING', `the PostgreSQL program ${name} was not found`, {
    hint: 'install the PostgreSQL client programs (Debian: postgresql-client-15) or set database.binDir',
    exitCode: 2,
  });
}

export interface RunOptions {
  /** Run as this OS user when safetynet is root (servers, initdb). */
  asUser?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Upper bound of the run; the child is killed after it. */
  timeoutMs?: number;
  /** Called with each stderr line (the `backup` log). */
  onStderr?: (line: string) => void;
  stdio?: 'pipe' | 'ignore';
  /** Give the child a stdin pipe. */
  stdin?: boolean;
}

/** A supervised child: its process, collected stderr and a promise of its exit. */
export interface Supervised {
  child: ChildProcess;
  command: string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) when the child ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `cmd args` under setpriv (kill with parent; user switch when root). */
export function spawnSupervised(cmd: string, args: string[], opts: RunOptions = {}): Supervised {
  const pre = ['--pdeathsig=KILL'];
  if (opts.asUser && process.getuid?.() === 0) {
    pre.push(`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--init-groups');
  }
  const child = spawn('setpriv', [...pre, '--', cmd, ...args], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdio ?? 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const command = [path.basename(cmd), ...args.map(redactArg)].join(' ');
  let err = '';
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (err.length < STDERR_LIMIT) err += s.slice(0, STDERR_LIMIT - err.length);
    if (opts.onStderr) {
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l.trim()) opts.onStderr(l);
      if (partial.length > STDERR_LIMIT) partial = '';
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      err += `\n${(e as Error).message}`;
      resolve({ code: -1, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
  const onAbort = () => void stop();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs) timer = setTimeout(() => void stop(), opts.timeoutMs);
  void exited.then(() => {
    opts.signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
  });
  return { child, command, stderr: () => err, exited, stop };
}

/** Runs a command to its end; E_PG_COMMAND (naming it, with its stderr) unless it exits 0. */
export async function runTool(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const s = spawnSupervised(cmd, args, opts);
  let out = '';
  s.child.stdout?.setEncoding('utf8');
  s.child.stdout?.on('data', (d: string) => {
    if (out.length < 4 * 1024 * 1024) out += d;
  });
  const { code, signal } = await s.exited;
  if (code !== 0)
    throw commandFailed(s.command, code, signal, s.stderr() + (out ? `\n${out.slice(-2000)}` : ''));
  return { stdout: out, stderr: s.stderr() };
}

/** The typed error of a failed child. */
export function commandFailed(
  command: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  output: string,
): SafetynetError {
  const how = signal ? `was stopped by ${signal}` : `exited with code ${code}`;
  const text = output.trim().split('\n').slice(-12).join('\n');
  return new SafetynetError('E_PG_COMMAND', `${command.split(' ')[0]} ${how}: ${text || '(no output)'}`, {
    hint: 'the command and its output are in the backup log; fix what PostgreSQL reports and run again',
    details: { command, code, signal, output: text },
  });
}

/** Hides a password inside a connection-string argument. */
function redactArg(a: string): string {
  return a.replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@').replace(/(password\s*=\s*)\S+/i, '$1***');
}
