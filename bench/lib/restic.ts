/**
 * restic 0.14 as the benchmark peer: init a repository in a folder, back up, restore, and measure wall
 * time and stored bytes, through the real `restic` binary (child_process). Repository version 2, so restic
 * compresses with zstd ("auto"), the setting DESIGN.md §6's figures were measured with.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, lstatSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

export interface ResticRepo {
  /** The repository folder. */
  repo: string;
  /** A cache folder of its own, so runs never share or pollute ~/.cache/restic. */
  cacheDir: string;
  password: string;
}

export interface ResticBackupResult {
  wallMs: number;
  snapshotId: string;
  /**
   * restic's `data_added` from its JSON summary. restic 0.14 counts it BEFORE compression, so it is not the
   * stored size: measure stored bytes with resticStoredBytes() before and after instead.
   */
  dataAddedUncompressedBytes: number;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  /** restic's CPU time (all its threads) and minor page faults, when /usr/bin/time is there. */
  cpu?: ChildCpu;
}

interface RunResult {
  stdout: string;
  stderr: string;
  wallMs: number;
  cpu?: ChildCpu;
}

/** CPU time and minor page faults of a child process (from /usr/bin/time), when measurable. */
export interface ChildCpu {
  userMs: number;
  sysMs: number;
  minorFaults: number;
}

/** /usr/bin/time (GNU time) reports a child's CPU; without it, figures have no CPU column. */
export const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const CPU_MARK = 'SAFETYNET_BENCH_CPU';

/** Wraps a command so that its CPU time is measured: [command, args] for spawn. */
export function withCpu(cmd: string, args: string[]): [string, string[]] {
  return TIME_BIN ? [TIME_BIN, ['-f', `${CPU_MARK} %U %S %R`, cmd, ...args]] : [cmd, args];
}

/** Takes the CPU line withCpu added out of a child's stderr. */
export function takeCpu(stderr: string): { stderr: string; cpu?: ChildCpu } {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => l.startsWith(CPU_MARK));
  if (i < 0) return { stderr };
  const [, u, s, r] = lines[i]!.split(' ');
  lines.splice(i, 1);
  return {
    stderr: lines.join('\n'),
    cpu: { userMs: Number(u) * 1000, sysMs: Number(s) * 1000, minorFaults: Number(r) },
  };
}

const DEFAULT_PASSWORD = 'safetynet-bench-only';

function env(r: ResticRepo): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RESTIC_PASSWORD: r.password,
    RESTIC_REPOSITORY: r.repo,
    RESTIC_CACHE_DIR: r.cacheDir,
  };
}

/** Runs restic with `args`; rejects with restic's stderr when it exits non-zero. */
function run(r: ResticRepo | undefined, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const [cmd, argv] = withCpu('restic', args);
    const child = spawn(cmd, argv, { env: r ? env(r) : process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject(new Error(`cannot run restic (${e.message}); install it: apt-get install restic`)),
    );
    child.on('close', (code) => {
      const measured = takeCpu(Buffer.concat(err).toString('utf8'));
      const result = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: measured.stderr,
        wallMs: performance.now() - started,
        ...(measured.cpu ? { cpu: measured.cpu } : {}),
      };
      if (code === 0) resolve(result);
      else
        reject(new Error(`restic ${args.join(' ')} exited ${code}: ${result.stderr.trim().slice(0, 2000)}`));
    });
  });
}

/** The installed restic version ("0.14.0"); throws when restic is missing. */
export async function resticVersion(): Promise<string> {
  const { stdout } = await run(undefined, ['version']);
  const m = /restic (\d+\.\d+\.\d+)/.exec(stdout);
  if (!m) throw new Error(`unexpected 'restic version' output: ${stdout.trim()}`);
  return m[1]!;
}

/** Creates a fresh v2 (compressed) repository at `repo`; its cache goes beside it. */
export async function initResticRepo(repo: string, password = DEFAULT_PASSWORD): Promise<ResticRepo> {
  const r: ResticRepo = { repo, cacheDir: `${repo}.cache`, password };
  mkdirSync(path.dirname(repo), { recursive: true });
  await run(r, ['init', '--repository-version', '2', '--quiet']);
  return r;
}

/** An existing repository made by initResticRepo (a kept work folder). */
export function resticRepoAt(repo: string, password = DEFAULT_PASSWORD): ResticRepo {
  return { repo, cacheDir: `${repo}.cache`, password };
}

/** Backs up `target` (a file or folder); returns wall time and restic's summary. */
export async function resticBackup(
  r: ResticRepo,
  target: string,
  opts: { time?: string; host?: string } = {},
): Promise<ResticBackupResult> {
  const args = ['backup', '--json', '--host', opts.host ?? 'bench'];
  if (opts.time) args.push('--time', opts.time);
  const res = await run(r, [...args, target]);
  const summary = res.stdout
    .split('\n')
    .filter((l) => l.includes('"message_type":"summary"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
  if (!summary) throw new Error(`restic backup printed no summary: ${res.stdout.slice(-500)}`);
  return {
    wallMs: res.wallMs,
    snapshotId: String(summary.snapshot_id),
    dataAddedUncompressedBytes: Number(summary.data_added ?? 0),
    filesNew: Number(summary.files_new ?? 0),
    filesChanged: Number(summary.files_changed ?? 0),
    filesUnmodified: Number(summary.files_unmodified ?? 0),
    ...(res.cpu ? { cpu: res.cpu } : {}),
  };
}

/** Restores a snapshot ("latest" by default) into `targetDir`; returns wall time. */
export async function resticRestore(
  r: ResticRepo,
  targetDir: string,
  snapshot = 'latest',
): Promise<{ wallMs: number; cpu?: ChildCpu }> {
  const res = await run(r, ['restore', snapshot, '--target', targetDir, '--quiet']);
  return { wallMs: res.wallMs, ...(res.cpu ? { cpu: res.cpu } : {}) };
}

/** Bytes the repository occupies: the apparent size of every file under its folder (like `du -sb`). */
export function resticStoredBytes(r: ResticRepo): number {
  return folderBytes(r.repo);
}

/** The apparent size of all regular files under `dir` (folders themselves not counted, unlike `du -sb`). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const st = lstatSync(full);
    if (st.isDirectory()) total += folderBytes(full);
    else if (st.isFile()) total += st.size;
  }
  return total;
}
