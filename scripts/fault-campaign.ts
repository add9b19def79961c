/**
 * The fault campaign (docs/RELIABILITY.md): real processes killed with SIGKILL at random moments,
 * and real S3 requests failing through a fault-injecting proxy, each followed by the checks an
 * operator would make. Every scenario reports trials, passed, data lost and manual steps needed
 * (both must be 0).
 *
 *   npm run fault-campaign                         # the full campaign (50 trials each, 20 per S3 scenario)
 *   npm run fault-campaign -- --trials 3 --s3-trials 2 --seed 7 --only logging,db-backup --json out.json
 *
 * It drives the built CLI (dist/: `npm run build` first; the npm script does) in child processes,
 * exactly as an operator or systemd would. `npm test` runs a short version (test/fault-campaign.test.ts).
 *
 * Scenarios of other areas plug in through SCENARIOS (disk full under the log store, the store file
 * deleted while logging, …): each is a name, a description and a `trial` function.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { generateIdentity } from '../src/backup/crypto/index.js';
import { createRng, type Rng } from '../src/util/rng.js';
import { startFaultProxy, startS3Server, type FaultAction, type S3TestServer } from '../test/helpers/s3.js';
import { mountTmpfs, type Tmpfs } from '../test/log/tmpfs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/main.js');

// ---------------------------------------------------------------------------------------------
// Results

export interface TrialOutcome {
  ok: boolean;
  /** Entries or restore points that were acknowledged/visible and are gone. */
  dataLost: number;
  /** Steps a person would have had to take (unlock, delete a file …) before things worked again. */
  manualSteps: number;
  note?: string;
}

export interface ScenarioResult {
  name: string;
  description: string;
  trials: number;
  passed: number;
  dataLost: number;
  manualSteps: number;
  seconds: number;
  failures: string[];
}

interface Scenario {
  name: string;
  description: string;
  s3?: boolean;
  /** Once per scenario: the environment the trials share. */
  setup(ctx: Ctx): Promise<Env>;
  trial(env: Env, rng: Rng, i: number): Promise<TrialOutcome>;
}

interface Ctx {
  s3?: { server: S3TestServer; proxyEndpoint: string };
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Spawned {
  child: ChildProcess;
  done: Promise<Run>;
  stdout: () => string;
  stderr: () => string;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Spawned {
  const child = spawn(process.execPath, args, {
    cwd: cwd ?? ROOT,
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000); // every wait has a bound
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out, stderr: err });
    }),
  );
  return { child, done, stdout: () => out, stderr: () => err };
}

function cli(env: Env, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return start([CLI, '--config', env.configFile, ...args], { ...env.processEnv, ...extraEnv }, env.dir).done;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A CLI error is "clear" when it is one line with a stable code, never an internal error or stack. */
function clearError(r: Run): boolean {
  return /\[E_[A-Z0-9_]+\]/.test(r.stderr) && !/internal error|\n\s+at /.test(r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Environments

interface Env {
  dir: string;
  configFile: string;
  repoDir?: string;
  processEnv: NodeJS.ProcessEnv;
  /** Counter for unique messages and file contents. */
  seq: number;
  /** Run once the scenario is done, before its folder is removed (unmounts a tmpfs). */
  cleanup?: () => void;
}

function makeEnv(
  name: string,
  opts: { rows?: number; backup?: Record<string, unknown>; repository?: Record<string, unknown> } = {},
): Env {
  const dir = mkdtempSync(path.join(tmpdir(), `safetynet-faults-${name}-`));
  const { identity, recipient } = generateIdentity();
  mkdirSync(path.join(dir, 'keys'));
  writeFileSync(path.join(dir, 'keys/identity.txt'), `${identity}\n`, { mode: 0o600 });
  mkdirSync(path.join(dir, 'shop/images'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(path.join(dir, `shop/images/p${i}.bin`), randomBytes(i, 60_000));
  const raw = {
    backup: {
      recipients: [recipient],
      identity: 'keys/identity.txt',
      timezone: 'UTC',
      files: [{ name: 'images', path: 'shop/images' }],
      ...(opts.repository ?? {}),
      ...(opts.backup ?? {}),
    },
  };
  const configFile = path.join(dir, 'safetynet.config.json');
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  shopDb(path.join(dir, 'data/shop.sqlite'), opts.rows ?? 20_000);
  return { dir, configFile, repoDir: path.join(dir, 'data/backups'), processEnv: {}, seq: 0 };
}

function shopDb(file: string, rows: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, email TEXT, status TEXT, total REAL, note TEXT)',
  );
  const ins = db.prepare('INSERT INTO orders (email, status, total, note) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`c${i}@example.com`, 'paid', i % 977, 'x'.repeat(80 + (i % 50)));
  })();
  db.close();
}

function touchShop(env: Env): void {
  const db = new Database(path.join(env.dir, 'data/shop.sqlite'));
  db.prepare('UPDATE orders SET status = ? WHERE id % 50 = ?').run(`s${env.seq}`, env.seq % 50);
  db.close();
  writeFileSync(path.join(env.dir, `shop/images/new-${env.seq}.bin`), randomBytes(1000 + env.seq, 30_000));
  env.seq++;
}

function randomBytes(seed: number, n: number): Buffer {
  const rng = createRng(seed * 7919 + 1);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(Math.floor(rng.next() * 2 ** 32) >>> 0, Math.min(i, n - 4));
  return b;
}

/** Visible points (what `backups list` shows), by id: the catalog folder, or the CLI for S3. */
async function points(env: Env): Promise<Set<string>> {
  if (env.repoDir) {
    const dir = path.join(env.repoDir, 'catalog');
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // no point yet
    }
    return new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.split('_')[0]!));
  }
  const r = await cli(env, ['backups', 'list', '--json']);
  if (r.code !== 0) return new Set();
  return new Set(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { id: string }).id),
  );
}

/** Points visible before and gone after (never removed on purpose by the step in between). */
function lost(before: Set<string>, after: Set<string>): number {
  let n = 0;
  for (const id of before) if (!after.has(id)) n++;
  return n;
}

/** verify --read-data (it includes the existence and size checks of a plain verify). */
async function verifyBoth(env: Env): Promise<string | undefined> {
  const full = await cli(env, ['verify', '--read-data', '--json']);
  if (full.code !== 0)
    return `verify --read-data failed: ${full.stdout.slice(0, 300)} ${full.stderr.slice(0, 300)}`;
  return undefined;
}

/**
 * Runs `args` and kills it with SIGKILL after a random delay in [0, maxMs]; then checks that the
 * repository shows no partial point, that the next run succeeds without manual steps, and that
 * verify --read-data passes. `keepsPoints` false for prune (it removes points on purpose).
 */
async function killTrial(
  env: Env,
  rng: Rng,
  args: string[],
  maxMs: number,
  opts: { keepsPoints?: boolean; prepare?: () => Promise<void> } = {},
): Promise<TrialOutcome> {
  await opts.prepare?.();
  const before = await points(env);
  const newest = [...before].sort().at(-1);
  const run = start([CLI, '--config', env.configFile, ...args], env.processEnv, env.dir);
  await sleep(rng.int(0, maxMs));
  run.child.kill('SIGKILL');
  await run.done;
  let manualSteps = 0;
  const problems: string[] = [];
  const quick = await cli(env, ['verify', '--json']);
  if (quick.code !== 0)
    problems.push(`a partial point is visible: ${quick.stdout.slice(0, 300)} ${quick.stderr.slice(0, 300)}`);
  // The next run, as the scheduler would start it: no unlock, no clean-up by hand.
  const next = await cli(env, args);
  if (next.code !== 0) {
    manualSteps++;
    problems.push(`the next run failed: ${next.stderr.trim().split('\n')[0]}`);
    // What a person would do; the run after it must work for the campaign to go on.
    await cli(env, ['unlock', '--all']);
    const retried = await cli(env, args);
    if (retried.code !== 0) problems.push(`and failed again after unlock: ${retried.stderr.split('\n')[0]}`);
  }
  const after = await points(env);
  let dataLost = opts.keepsPoints === false ? (newest && !after.has(newest) ? 1 : 0) : lost(before, after);
  const v = await verifyBoth(env);
  if (v) {
    problems.push(v);
    dataLost++;
  }
  return {
    ok: problems.length === 0 && dataLost === 0,
    dataLost,
    manualSteps,
    ...(problems.length ? { note: problems.join('; ') } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const LOG_CHILD = `
const { createLogger } = await import(process.argv[1]);
const log = await createLogger({ storePath: process.argv[2], spoolDir: process.argv[3], notify: () => {} });
const trial = process.argv[4];
process.stdout.write('ready\\n');
for (let i = 0; ; i++) {
  for (let j = 0; j < 10; j++) void log.order.info('u' + trial + '-' + i + '-' + j);
  await log.payment.info('a' + trial + '-' + i);
  process.stdout.write('acked a' + trial + '-' + i + '\\n');
}
`;

const logging: Scenario = {
  name: 'logging',
  description: 'a process logging (awaited + un-awaited entries) killed with SIGKILL',
  async setup() {
    const env = makeEnv('logging', { rows: 10 });
    return env;
  },
  async trial(env, rng, i) {
    const store = path.join(env.dir, 'data/logs.sqlite');
    const spool = path.join(env.dir, 'data/log-spool');
    const child = start(
      ['--input-type=module', '-e', LOG_CHILD, path.join(ROOT, 'dist/log/index.js'), store, spool, String(i)],
      env.processEnv,
      env.dir,
    );
    const t0 = Date.now();
    while (!child.stdout().includes('ready') && Date.now() - t0 < 30_000) await sleep(5);
    await sleep(rng.int(0, 400));
    child.child.kill('SIGKILL');
    const r = await child.done;
    const acked = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('acked '))
      .map((l) => l.slice(6));
    const exp = await cli(env, [
      'logs',
      'export',
      '--format',
      'ndjson',
      '--category',
      'payment',
      '--text',
      `a${i}`,
    ]);
    const stored = new Set(
      exp.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { message: string }).message),
    );
    const missing = acked.filter((m) => !stored.has(m));
    const verify = await cli(env, ['logs', 'verify', '--json']);
    const problems: string[] = [];
    if (missing.length) problems.push(`${missing.length} of ${acked.length} acknowledged entries missing`);
    if (verify.code !== 0)
      problems.push(`logs verify failed: ${verify.stdout.slice(0, 200)}${verify.stderr.slice(0, 200)}`);
    return {
      ok: problems.length === 0,
      dataLost: missing.length,
      manualSteps: 0,
      ...(problems.length ? { note: problems.join('; ') } : {}),
    };
  },
};

const dbBackup: Scenario = {
  name: 'db-backup',
  description: '`backup db` (full or incremental) killed with SIGKILL',
  async setup() {
    const env = makeEnv('db', { rows: 60_000 });
    await cli(env, ['backup', 'db', '--full']);
    return env;
  },
  trial: (env, rng) =>
    killTrial(env, rng, ['backup', 'db'], 1500, {
      prepare: async () => touchShop(env),
    }),
};

const filesBackup: Scenario = {
  name: 'files-backup',
  description: '`backup files` killed with SIGKILL',
  async setup() {
    const env = makeEnv('files', { rows: 10 });
    await cli(env, ['backup', 'files']); // the repository exists: a kill before the first point is not a finding
    return env;
  },
  trial: (env, rng) =>
    killTrial(env, rng, ['backup', 'files'], 1200, {
      prepare: async () => touchShop(env),
    }),
};

const prune: Scenario = {
  name: 'prune',
  description: '`prune` killed with SIGKILL while it removes points',
  async setup() {
    const env = makeEnv('prune', {
      rows: 10,
      backup: { retention: { daily: 1, weekly: 0, monthly: 0, pointInTimeDays: 0 } },
    });
    await cli(env, ['backup', 'files']);
    return env;
  },
  trial: (env, rng) =>
    killTrial(env, rng, ['prune'], 700, {
      keepsPoints: false,
      prepare: async () => {
        // Three files points of today: prune keeps the newest and removes the others.
        for (let k = 0; k < 3; k++) {
          touchShop(env);
          await cli(env, ['backup', 'files']);
        }
      },
    }),
};

const serveMidJob: Scenario = {
  name: 'serve',
  description: '`serve` killed with SIGKILL in the middle of its catch-up jobs, then started again',
  async setup() {
    const env = makeEnv('serve', { rows: 60_000 });
    const raw = JSON.parse(String(await import('node:fs').then((f) => f.readFileSync(env.configFile))));
    raw.admin = { port: 0 };
    writeFileSync(env.configFile, JSON.stringify(raw));
    await cli(env, ['backup', 'db', '--full']); // the repository exists before the first kill
    return env;
  },
  async trial(env, rng) {
    // Forget the schedule's history, so every job is a missed slot and serve starts working at once.
    rmSync(path.join(env.dir, 'data/backup-state/scheduler-state.json'), { force: true });
    touchShop(env);
    const before = await points(env);
    const first = start(
      [CLI, '--config', env.configFile, 'serve', '--no-panel', '--catch-up-delay', '0s'],
      env.processEnv,
      env.dir,
    );
    await sleep(rng.int(300, 2500));
    first.child.kill('SIGKILL');
    await first.done;
    const problems: string[] = [];
    let manualSteps = 0;
    // It comes back alone: a second start must not be refused, and must stop cleanly on SIGTERM.
    const again = start(
      [CLI, '--config', env.configFile, 'serve', '--no-panel', '--catch-up-delay', '0s'],
      env.processEnv,
      env.dir,
    );
    // An operator's (or systemd's) stop comes once serve is up: before node has run any of our code
    // a SIGTERM can only have its default effect, which no program can change.
    const t0 = Date.now();
    while (
      again.child.exitCode === null &&
      !again.stderr().includes('scheduler running') &&
      Date.now() - t0 < 60_000
    )
      await sleep(20);
    if (again.child.exitCode !== null) {
      const r = await again.done;
      manualSteps++;
      problems.push(`serve did not come back: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
      await cli(env, ['unlock', '--all']);
    } else {
      again.child.kill('SIGTERM');
      const r = await again.done;
      if (r.code !== 0)
        problems.push(`serve did not stop cleanly on SIGTERM: exit ${r.code} ${r.signal ?? ''}`);
    }
    const after = await points(env);
    // Retention may remove points on purpose; only the newest must survive.
    const newest = [...before].sort().at(-1);
    let dataLost = newest && !after.has(newest) ? 1 : 0;
    const v = await verifyBoth(env);
    if (v) {
      problems.push(v);
      dataLost++;
    }
    return {
      ok: problems.length === 0 && dataLost === 0,
      dataLost,
      manualSteps,
      ...(problems.length ? { note: problems.join('; ') } : {}),
    };
  },
};

/** 20% of requests fail: S3 errors, connection resets before or after the server acted, slow answers. */
function s3Fault(rng: Rng): FaultAction {
  if (!rng.chance(0.2)) return 'pass';
  return rng.pick<FaultAction>([
    { status: 503, code: 'SlowDown' },
    { status: 500, code: 'InternalError' },
    'drop',
    'drop-response',
    'drop-mid-body',
    { delayMs: rng.int(500, 3000) },
  ]);
}

function s3Scenario(
  name: string,
  description: string,
  step: (env: Env, direct: Env) => Promise<Run>,
): Scenario {
  return {
    name,
    description,
    s3: true,
    async setup(ctx) {
      const prefix = `${name}-${Date.now()}`;
      const direct = makeEnv(name, { rows: 20_000, repository: ctx.s3!.server.config(prefix) });
      direct.processEnv = ctx.s3!.server.env;
      delete direct.repoDir;
      const viaProxy: Env = { ...direct, configFile: path.join(direct.dir, 'proxied.config.json') };
      const raw = JSON.parse(String(await import('node:fs').then((f) => f.readFileSync(direct.configFile))));
      raw.backup.s3 = { ...raw.backup.s3, endpoint: ctx.s3!.proxyEndpoint };
      writeFileSync(viaProxy.configFile, JSON.stringify(raw));
      await cli(direct, ['backup', 'db', '--full']);
      await cli(direct, ['backup', 'files']);
      (viaProxy as Env & { direct: Env }).direct = direct;
      return viaProxy;
    },
    async trial(env) {
      const direct = (env as Env & { direct: Env }).direct;
      touchShop(direct);
      const before = await points(direct);
      const r = await step(env, direct);
      const problems: string[] = [];
      if (r.code !== 0 && !clearError(r))
        problems.push(`unclear failure (exit ${r.code}): ${r.stderr.slice(0, 300)}`);
      const after = await points(direct);
      let dataLost = name === 's3-prune' ? 0 : lost(before, after);
      const v = await verifyBoth(direct);
      if (v) {
        problems.push(`half-visible: ${v}`);
        dataLost++;
      }
      // Whatever failed, the next run without faults works without manual steps.
      let manualSteps = 0;
      if (r.code !== 0) {
        const again = await step(direct, direct);
        if (again.code !== 0) {
          manualSteps++;
          problems.push(`the next run without faults failed: ${again.stderr.split('\n')[0]}`);
        }
      }
      return {
        ok: problems.length === 0 && dataLost === 0,
        dataLost,
        manualSteps,
        note: r.code === 0 ? 'completed' : `failed clearly: ${r.stderr.split('\n')[0]}`,
      };
    },
  };
}

const s3Backup = s3Scenario(
  's3-backup',
  'backup db + files through a proxy failing 20% of S3 requests',
  async (env) => {
    const a = await cli(env, ['backup', 'db']);
    if (a.code !== 0) return a;
    return cli(env, ['backup', 'files']);
  },
);
const s3Restore = s3Scenario(
  's3-restore',
  'restore db + files through a proxy failing 20% of S3 requests',
  async (env) => {
    const to = path.join(env.dir, `restore-${Date.now()}`);
    const a = await cli(env, ['restore', 'db', '--to', path.join(to, 'shop.sqlite')]);
    if (a.code !== 0) return a;
    return cli(env, ['restore', 'files', '--to', path.join(to, 'files')]);
  },
);
const s3Prune = s3Scenario('s3-prune', 'prune through a proxy failing 20% of S3 requests', (env) =>
  cli(env, ['prune']),
);

// ---------------------------------------------------------------------------------------------
// Disk full, the log store's file replaced

/** Fills `fs` and then frees `free` bytes again, so a run finds a nearly full disk. */
function fillLeaving(fs: Tmpfs, free: number): void {
  fs.fill();
  const filler = path.join(fs.dir, 'filler');
  truncateSync(filler, Math.max(0, statSync(filler).size - free));
}

/** A one-line failure that names the lack of space. */
function saysNoSpace(r: Run): boolean {
  return clearError(r) && /E_NO_SPACE|no space|disk .*full|is full|ENOSPC/i.test(r.stderr);
}

function firstLine(r: Run): string {
  return r.stderr.trim().split('\n')[0] ?? '';
}

/**
 * `backup db` / `backup files` with the repository on a real, nearly full tmpfs: the run completes
 * or fails clearly naming the space, no partial point is visible, and once the space is freed the
 * next run succeeds by itself and verify --read-data passes.
 */
function diskFullBackup(kind: 'db' | 'files'): Scenario {
  return {
    name: `disk-full-${kind}-backup`,
    description: `\`backup ${kind}\` with the repository on a nearly full tmpfs, then space freed`,
    async setup() {
      const fs = mountTmpfs(48 * 1024 * 1024);
      const env = makeEnv(`full-${kind}`, {
        rows: 20_000,
        repository: { repository: path.join(fs.dir, 'repo') },
      });
      env.repoDir = path.join(fs.dir, 'repo');
      env.cleanup = () => fs.unmount();
      (env as Env & { fs: Tmpfs }).fs = fs;
      const first = await cli(env, ['backup', kind, ...(kind === 'db' ? ['--full'] : [])]);
      if (first.code !== 0) throw new Error(`the first backup failed: ${first.stderr}`);
      return env;
    },
    async trial(env, rng) {
      const fs = (env as Env & { fs: Tmpfs }).fs;
      touchShop(env);
      const before = await points(env);
      fillLeaving(fs, rng.int(0, 96 * 1024));
      const r = await cli(env, ['backup', kind]);
      const problems: string[] = [];
      if (r.code !== 0 && !saysNoSpace(r))
        problems.push(`unclear failure (exit ${r.code}): ${r.stderr.slice(0, 300)}`);
      const during = await points(env);
      if (r.code !== 0 && during.size !== before.size)
        problems.push(`the failed run left ${during.size - before.size} visible point(s)`);
      fs.unfill();
      const quick = await cli(env, ['verify', '--json']);
      if (quick.code !== 0) problems.push(`a partial point is visible: ${quick.stdout.slice(0, 300)}`);
      let manualSteps = 0;
      const next = await cli(env, ['backup', kind]);
      if (next.code !== 0) {
        manualSteps++;
        problems.push(`the next run after freeing space failed: ${firstLine(next)}`);
        await cli(env, ['unlock', '--all']);
      }
      let dataLost = lost(before, await points(env));
      const v = await verifyBoth(env);
      if (v) {
        problems.push(v);
        dataLost++;
      }
      return {
        ok: problems.length === 0 && dataLost === 0,
        dataLost,
        manualSteps,
        note: problems.length
          ? problems.join('; ')
          : r.code === 0
            ? 'completed in the space left'
            : `failed clearly: ${firstLine(r)}`,
      };
    },
  };
}

/** Every regular file under `dir`, relative path → content. */
function tree(dir: string, base = dir, out = new Map<string, Buffer>()): Map<string, Buffer> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) tree(p, base, out);
    else out.set(path.relative(base, p), readFileSync(p));
  }
  return out;
}

const ORIGINAL = Buffer.from('the original file, which a failed restore must leave as it is\n');

/**
 * `restore db` / `restore files --force` into a real, nearly full tmpfs holding an original file:
 * the run fails clearly naming the space, nothing half-written is left at the target (every file
 * there is the original or a complete restored one), and after freeing space the same command works.
 */
function diskFullRestore(kind: 'db' | 'files'): Scenario {
  return {
    name: `disk-full-${kind}-restore`,
    description: `\`restore ${kind} --force\` onto a nearly full tmpfs holding an original file`,
    async setup() {
      const env = makeEnv(`full-restore-${kind}`, { rows: 20_000 });
      const b = await cli(env, ['backup', kind, ...(kind === 'db' ? ['--full'] : [])]);
      if (b.code !== 0) throw new Error(`the backup failed: ${b.stderr}`);
      const fs = mountTmpfs(32 * 1024 * 1024);
      env.cleanup = () => fs.unmount();
      (env as Env & { fs: Tmpfs }).fs = fs;
      return env;
    },
    async trial(env, rng) {
      const fs = (env as Env & { fs: Tmpfs }).fs;
      for (const n of readdirSync(fs.dir)) rmSync(path.join(fs.dir, n), { recursive: true, force: true });
      const target = kind === 'db' ? path.join(fs.dir, 'shop.sqlite') : path.join(fs.dir, 'files');
      const originalRel = kind === 'db' ? 'shop.sqlite' : 'files/images/p0.bin';
      mkdirSync(path.dirname(path.join(fs.dir, originalRel)), { recursive: true });
      writeFileSync(path.join(fs.dir, originalRel), ORIGINAL);
      // What a complete restore writes: the shop's database size, or the images folder.
      const source = kind === 'db' ? undefined : tree(path.join(env.dir, 'shop/images'));
      const needed =
        kind === 'db'
          ? statSync(path.join(env.dir, 'data/shop.sqlite')).size
          : [...source!.values()].reduce((a, b) => a + b.length, 0);
      // Half the trials start without room; the other half start with room, and another writer
      // takes the rest of the disk at a random moment while the restore writes.
      const race = rng.chance(0.5);
      const args = ['restore', kind, '--to', target, '--force'];
      let r: Run;
      if (!race) {
        fillLeaving(fs, rng.int(0, Math.floor(needed * 0.8)));
        r = await cli(env, args);
      } else {
        // restore db refuses up front unless the disk holds the database plus a 16 MiB margin.
        fillLeaving(fs, needed + (kind === 'db' ? 17 : 0.25) * 1024 * 1024);
        const run = start([CLI, '--config', env.configFile, ...args], env.processEnv, env.dir);
        // Once the restore has started writing (a new name appears at the target), plus a random delay.
        const names = (): number => readdirSync(fs.dir, { recursive: true }).length;
        const n0 = names();
        const t0 = Date.now();
        while (run.child.exitCode === null && names() === n0 && Date.now() - t0 < 60_000) await sleep(2);
        await sleep(rng.int(0, 30));
        rmSync(path.join(fs.dir, 'filler'));
        fs.fill();
        r = await run.done;
      }
      const problems: string[] = [];
      let dataLost = 0;
      if (r.code === 0 && !race) problems.push('the restore reported success on a disk without room for it');
      else if (r.code !== 0 && !saysNoSpace(r))
        problems.push(`unclear failure (exit ${r.code}): ${r.stderr.slice(0, 300)}`);
      const left = tree(fs.dir);
      left.delete('filler');
      for (const [rel, content] of left) {
        if (rel === originalRel && content.equals(ORIGINAL) && r.code !== 0) continue;
        if (kind === 'db' && rel === originalRel && r.code === 0 && content.equals(shopDbBytes(env)))
          continue;
        const want = kind === 'files' ? source!.get(path.relative('files/images', rel)) : undefined;
        if (want && rel.startsWith('files/images/') && content.equals(want)) continue; // complete
        problems.push(
          rel === originalRel ? `the original ${rel} was changed` : `a half file was left: ${rel}`,
        );
        if (rel === originalRel) dataLost++;
      }
      if (!left.has(originalRel)) {
        problems.push(`the original ${originalRel} is gone`);
        dataLost++;
      }
      fs.unfill();
      let manualSteps = 0;
      const again = await cli(env, args);
      if (again.code !== 0) {
        manualSteps++;
        problems.push(`the same restore after freeing space failed: ${firstLine(again)}`);
      }
      return {
        ok: problems.length === 0 && dataLost === 0,
        dataLost,
        manualSteps,
        note: problems.length
          ? problems.join('; ')
          : r.code === 0
            ? 'completed before the disk filled'
            : `failed clearly${race ? ' (disk filled while writing)' : ''}: ${firstLine(r)}`,
      };
    },
  };
}

/**
 * The database a complete `restore db` gives: the shop's file as the backup read it (the shop is
 * not written between the backup and the trials, and a restore rebuilds the same pages). Compared
 * by content, so a restore that reported success with a half file would be found.
 */
function shopDbBytes(env: Env): Buffer {
  return readFileSync(path.join(env.dir, 'data/shop.sqlite'));
}

type LogModule = typeof import('../src/log/index.js');
const logModule = (): Promise<LogModule> =>
  import(path.join(ROOT, 'dist/log/index.js')) as Promise<LogModule>;

/** Order messages, critical system messages and chain state of the store file `file`. */
async function storeContent(
  mod: LogModule,
  file: string,
): Promise<{ messages: string[]; critical: string[]; ok: boolean }> {
  const s = mod.SqliteLogStore.open(file);
  try {
    const all: Awaited<ReturnType<typeof s.search>>['entries'] = [];
    let cursor: string | undefined;
    do {
      const page = await s.search({}, { limit: 1000, ...(cursor ? { cursor } : {}) });
      all.push(...page.entries);
      cursor = page.nextCursor;
    } while (cursor);
    return {
      messages: all.filter((e) => e.category === 'order').map((e) => e.message),
      critical: all.filter((e) => e.category === 'system' && e.level === 'critical').map((e) => e.message),
      ok: (await s.verifyChain()).ok,
    };
  } finally {
    await s.close();
  }
}

/**
 * The logger with its store and spool on a real tmpfs that fills up (test/log/disk-full.test.ts
 * is the unit test): every call settles, and once space is freed the same process stores again
 * without a restart. Data lost: entries acknowledged as durable that are not in the store.
 */
const diskFullLog: Scenario = {
  name: 'disk-full-log',
  description: 'a process logging onto a tmpfs that fills up, then space freed (no restart)',
  async setup() {
    return makeEnv('full-log', { rows: 10 });
  },
  async trial(_env, rng, i) {
    const mod = await logModule();
    const fs = mountTmpfs(8 * 1024 * 1024);
    const problems: string[] = [];
    let dataLost: number;
    let manualSteps = 0;
    const durable: string[] = [];
    let unsaved = 0;
    try {
      const log = await mod.createLogger({
        storePath: path.join(fs.dir, 'logs.sqlite'),
        spoolDir: path.join(fs.dir, 'spool'),
        writer: rng.chance(0.5) ? 'thread' : 'inline',
        retryMs: 50,
        writeTimeoutMs: 400,
        closeTimeoutMs: 3000,
        maxQueueEntries: 500,
        notify: () => {},
        lastResort: () => {},
      });
      const pendingSettles: Promise<void>[] = [];
      const note = async (msg: string, awaited: boolean): Promise<void> => {
        // Random text: a repeated letter compresses to nothing and would never fill the disk.
        const blob = randomBytes(rng.int(0, 1e6), rng.int(100, 3000)).toString('base64');
        const p = log.order.info(msg, { details: { blob } });
        const settle = p.then((s) => (mod.isDurable(s) ? durable.push(msg) : unsaved++));
        if (awaited) await settle;
        else pendingSettles.push(settle.then(() => undefined));
      };
      const nBefore = rng.int(5, 50);
      const nFull = rng.int(50, 1500);
      for (let k = 0; k < nBefore; k++) await note(`t${i}-before-${k}`, true);
      fillLeaving(fs, rng.int(0, 256 * 1024));
      const pending: Promise<void>[] = [];
      for (let k = 0; k < nFull; k++) {
        const awaited = rng.chance(0.1);
        const p = note(`t${i}-full-${k}`, awaited);
        if (awaited) await p;
        else pending.push(p);
      }
      await Promise.all(pending);
      await Promise.all(pendingSettles);
      fs.unfill();
      const flushed = await log.flush({ timeoutMs: 20_000 });
      if (!flushed.durable) {
        manualSteps++;
        problems.push('after freeing space the logger did not store again without a restart');
      }
      for (let k = 0; k < 10; k++) await note(`t${i}-after-${k}`, true);
      const closed = await log.close();
      // close() is not `durable` when entries were dropped on the full disk (the callers were told);
      // with room on disk again it must keep everything still queued.
      if (closed.unsaved > 0)
        problems.push(`close() could not keep ${closed.unsaved} entries with room on disk`);
      const got = await storeContent(mod, path.join(fs.dir, 'logs.sqlite'));
      const stored = new Set(got.messages);
      const missing = durable.filter((m) => !stored.has(m));
      dataLost = missing.length;
      if (missing.length) problems.push(`${missing.length} of ${durable.length} durable entries missing`);
      if (!got.ok) problems.push('the chain does not verify');
    } finally {
      fs.unmount();
    }
    return {
      ok: problems.length === 0 && dataLost === 0,
      dataLost,
      manualSteps,
      note: problems.length
        ? problems.join('; ')
        : `${durable.length} durable, ${unsaved} reported unsaved to the caller`,
    };
  },
};

/**
 * The store file deleted (with or without its WAL) or replaced by another store while a process
 * logs (test/log/store-replaced.test.ts is the unit test): every acknowledged entry is in the
 * store at the path or, for a replacement, in the displaced copy kept beside it; the chains
 * verify; a critical system entry says what happened.
 */
const storeReplaced: Scenario = {
  name: 'log-store-replaced',
  description: 'the log store file deleted or replaced while a process logs',
  async setup() {
    return makeEnv('store-replaced', { rows: 10 });
  },
  async trial(env, rng, i) {
    const mod = await logModule();
    const dir = mkdtempSync(path.join(env.dir, `t${i}-`));
    const file = path.join(dir, 'logs.sqlite');
    const how = rng.pick(['delete with WAL', 'delete alone', 'replace'] as const);
    const log = await mod.createLogger({
      storePath: file,
      spoolDir: path.join(dir, 'spool'),
      writer: rng.chance(0.5) ? 'thread' : 'inline',
      notify: () => {},
    });
    const acked: string[] = [];
    const write = async (msg: string): Promise<void> => {
      if (mod.isDurable(await log.order.info(msg))) acked.push(msg);
    };
    const nBefore = rng.int(1, 40);
    const nAfter = rng.int(1, 40);
    for (let k = 0; k < nBefore; k++) await write(`before-${k}`);
    if (how === 'replace') {
      const other = mod.SqliteLogStore.open(path.join(dir, 'other.sqlite'));
      await other.append([
        {
          ts: Date.now(),
          level: 'info',
          category: 'order',
          message: 'other',
          details: '{}',
          orderId: null,
          errorStack: null,
        },
      ]);
      await other.close();
      writeFileSync(`${file}.new`, readFileSync(path.join(dir, 'other.sqlite')));
      renameSync(`${file}.new`, file);
    } else {
      for (const f of how === 'delete with WAL' ? [file, `${file}-wal`, `${file}-shm`] : [file])
        rmSync(f, { force: true });
    }
    for (let k = 0; k < nAfter; k++) await write(`after-${k}`);
    const closed = await log.close();
    const problems: string[] = [];
    if (!closed.durable) problems.push(`close() could not keep ${closed.unsaved} entries`);
    const now = await storeContent(mod, file);
    const stored = new Set(now.messages);
    let chainsOk = now.ok;
    for (const n of readdirSync(dir).filter((f) => /^logs\.sqlite\.displaced-.*\.sqlite$/.test(f))) {
      const old = await storeContent(mod, path.join(dir, n));
      for (const m of old.messages) stored.add(m);
      chainsOk &&= old.ok;
    }
    const missing = acked.filter((m) => !stored.has(m));
    if (missing.length) problems.push(`${missing.length} of ${acked.length} acknowledged entries missing`);
    if (!chainsOk) problems.push('a chain does not verify');
    if (!now.critical.some((m) => /was (deleted|replaced) while/.test(m)))
      problems.push('no critical system entry about the store file');
    rmSync(dir, { recursive: true, force: true });
    return {
      ok: problems.length === 0,
      dataLost: missing.length,
      manualSteps: 0,
      note: problems.length ? problems.join('; ') : `${how}: ${acked.length} entries kept`,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// The wall clock stepped under a running serve (libfaketime: the real program, its real timers and
// its children see a clock that moves on a write to a file, as after `date -s` or an NTP step)

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
/** Seconds between the scenario's incremental backups (a 6-field cron). */
const STEP_INCREMENTAL_S = 2;

/** The environment that makes a child see the clock written in `offsetFile` (e.g. "-1h"). */
function fakeClockEnv(offsetFile: string): NodeJS.ProcessEnv {
  return {
    LD_PRELOAD: FAKETIME_LIB,
    FAKETIME_TIMESTAMP_FILE: offsetFile,
    FAKETIME_NO_CACHE: '1',
    // Only the wall clock steps; elapsed time (CLOCK_MONOTONIC) goes on, as on a real machine.
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

/** A shop writing one order every 40 ms; prints each committed id. */
const SHOP_WRITER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 5000');
const ins = db.prepare("INSERT INTO orders (email, status, total, note) VALUES ('w@example.com', 'new', 1, 'clock-step')");
setInterval(() => { const r = ins.run(); process.stdout.write(r.lastInsertRowid + '\\n'); }, 40);
`;

/** The `backup` log entries, in id order (ids follow real time, whatever the clock said). */
async function backupEntries(env: Env): Promise<{ id: number; message: string }[]> {
  const r = await cli(env, ['logs', 'search', '--category', 'backup', '--limit', '1000', '--json']);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"message"'))
    .map((l) => JSON.parse(l) as { id: string; message: string })
    .map((e) => ({ id: Number(e.id), message: e.message }))
    .sort((a, b) => a.id - b.id);
}

/** Incremental runs started after this trial's clock-step entry (entries after `sinceId` only). */
async function runsAfterStep(
  env: Env,
  sinceId: number,
): Promise<{ stepSeen: boolean; incremental: number; trail: string }> {
  const entries = (await backupEntries(env)).filter((e) => e.id > sinceId);
  // What serve logged, for the note when a trial fails.
  const trail = entries.map((e) => `#${e.id} ${e.message.slice(0, 90)}`).join(' | ');
  const step = entries.findIndex((e) => /the system clock moved/.test(e.message));
  if (step < 0) return { stepSeen: false, incremental: 0, trail };
  const after = entries.slice(step + 1);
  return {
    stepSeen: true,
    incremental: after.filter((e) => e.message.startsWith('job incremental started')).length,
    trail,
  };
}

/** Writes the clock offset libfaketime reads, atomically (it re-reads the file at every clock call). */
function setFakeOffset(file: string, offset: string): void {
  writeFileSync(`${file}.tmp`, `${offset}\n`);
  renameSync(`${file}.tmp`, file);
}

/**
 * serve runs incremental backups every 2 s while a shop writes; at a random moment the wall clock
 * is stepped an hour back (even trials) or forward (odd trials). serve must notice, keep the
 * backups at their pace without a burst, stop cleanly on SIGTERM, and a restore afterwards must hold
 * every order committed before the last backup (before the fix, points stamped after a step back
 * sorted before older ones, and restore brought back the old data).
 */
const clockStep: Scenario = {
  name: 'clock-step',
  description: 'the wall clock stepped an hour back (or forward) under a running serve',
  async setup() {
    statSync(FAKETIME_LIB); // libfaketime (Debian package faketime) is required, never skipped
    const env = makeEnv('clock-step', { rows: 2_000 });
    const raw = JSON.parse(readFileSync(env.configFile, 'utf8'));
    raw.admin = { port: 0 };
    raw.backup.schedule = {
      full: '0 3 * * *',
      incremental: `*/${STEP_INCREMENTAL_S} * * * * *`,
      files: '*/5 * * * * *',
      retention: '0 5 * * *',
      logRetention: '15 5 * * *',
      restoreTest: '0 4 1 * *',
      readVerify: '30 4 * * *',
    };
    writeFileSync(env.configFile, JSON.stringify(raw));
    await cli(env, ['backup', 'all']); // the daily jobs are not all caught up in every trial
    return env;
  },
  async trial(env, rng, i) {
    const back = i % 2 === 0;
    const offsetFile = path.join(env.dir, `clock-${i}`);
    setFakeOffset(offsetFile, '+0');
    const fake = { ...env.processEnv, ...fakeClockEnv(offsetFile) };
    const problems: string[] = [];
    let manualSteps = 0;
    const sinceId = (await backupEntries(env)).at(-1)?.id ?? 0;
    const writer = start([
      '-e',
      SHOP_WRITER,
      path.join(ROOT, 'node_modules/better-sqlite3'),
      path.join(env.dir, 'data/shop.sqlite'),
    ]);
    const serve = start(
      [CLI, '--config', env.configFile, 'serve', '--no-panel', '--catch-up-delay', '0s'],
      fake,
      env.dir,
    );
    const t0 = Date.now();
    while (
      serve.child.exitCode === null &&
      !serve.stderr().includes('scheduler running') &&
      Date.now() - t0 < 60_000
    )
      await sleep(20);
    await sleep(rng.int(1000, 5000));
    setFakeOffset(offsetFile, back ? '-1h' : '+1h');
    const stepAt = Date.now();
    await sleep(4 * STEP_INCREMENTAL_S * 1000 + 1000);
    const afterMs = Date.now() - stepAt;
    if (serve.child.exitCode !== null) {
      problems.push(
        `serve stopped after the clock step: ${serve.stderr().trim().split('\n').slice(-2).join(' ')}`,
      );
      manualSteps++;
    } else {
      serve.child.kill('SIGTERM');
      const r = await serve.done;
      if (r.code !== 0)
        problems.push(`serve did not stop cleanly on SIGTERM: exit ${r.code} ${r.signal ?? ''}`);
    }
    writer.child.kill('SIGTERM');
    await writer.done;
    const committed = writer.stdout().trim().split('\n').filter(Boolean).map(Number);
    const runs = await runsAfterStep({ ...env, processEnv: fake }, sinceId);
    if (!runs.stepSeen) problems.push('serve did not log the clock step');
    // Real seconds after the step: one incremental every 2 s, none skipped for the hour, no burst.
    const expected = Math.floor(afterMs / 1000 / STEP_INCREMENTAL_S);
    if (runs.incremental < 2 || runs.incremental > expected + 2) problems.push(`serve's log: ${runs.trail}`);
    if (runs.incremental < 2)
      problems.push(`only ${runs.incremental} incremental runs in ${afterMs} ms after the step`);
    if (runs.incremental > expected + 2)
      problems.push(`${runs.incremental} incremental runs in ${afterMs} ms after the step: a burst`);
    // The machine's clock stays where it was stepped: the next backup and the restore run with it.
    const backup = await cli(env, ['backup', 'db'], fake);
    if (backup.code !== 0) problems.push(`backup db after the step failed: ${firstLine(backup)}`);
    const to = path.join(env.dir, `restored-${i}.sqlite`);
    const restore = await cli(env, ['restore', 'db', '--to', to], fake);
    let dataLost = 0;
    if (restore.code !== 0) problems.push(`restore db failed: ${firstLine(restore)}`);
    else {
      const db = new Database(to, { readonly: true });
      const max = (db.prepare('SELECT max(id) AS m FROM orders').get() as { m: number }).m;
      db.close();
      const last = committed.at(-1) ?? 0;
      if (max < last) {
        dataLost = last - max;
        problems.push(
          `the restore misses the ${dataLost} newest orders (has id ${max}, ${last} were committed)`,
        );
      }
      rmSync(to, { force: true });
    }
    const v = await verifyBoth(env);
    if (v) problems.push(v);
    const lv = await cli(env, ['logs', 'verify'], fake);
    if (lv.code !== 0) problems.push(`logs verify failed: ${firstLine(lv)}`);
    return {
      ok: problems.length === 0 && dataLost === 0,
      dataLost,
      manualSteps,
      note: problems.length
        ? problems.join('; ')
        : `${back ? 'back' : 'forward'}: ${runs.incremental} incrementals in ${afterMs} ms after the step, restore holds all ${committed.length} orders`,
    };
  },
};

/** Every scenario, in run order. Other areas add theirs here (disk full, store file deleted …). */
export const SCENARIOS: Scenario[] = [
  logging,
  dbBackup,
  filesBackup,
  prune,
  serveMidJob,
  s3Backup,
  s3Restore,
  s3Prune,
  diskFullBackup('db'),
  diskFullBackup('files'),
  diskFullRestore('db'),
  diskFullRestore('files'),
  diskFullLog,
  storeReplaced,
  clockStep,
];

// ---------------------------------------------------------------------------------------------
// Runner

export interface CampaignOptions {
  trials: number;
  s3Trials: number;
  seed: number;
  only?: string[];
  onTrial?: (scenario: string, i: number, o: TrialOutcome) => void;
}

export async function runCampaign(opts: CampaignOptions): Promise<ScenarioResult[]> {
  const chosen = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.name));
  const rng = createRng(opts.seed);
  const ctx: Ctx = {};
  let server: S3TestServer | undefined;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>> | undefined;
  const results: ScenarioResult[] = [];
  const cleanup: Env[] = [];
  try {
    if (chosen.some((s) => s.s3)) {
      server = await startS3Server({ bucket: 'fault-campaign' });
      const faults = createRng(opts.seed ^ 0x5eed);
      proxy = await startFaultProxy(server.endpoint, () => s3Fault(faults));
      ctx.s3 = { server, proxyEndpoint: proxy.endpoint };
    }
    for (const s of chosen) {
      const t0 = performance.now();
      const env = await s.setup(ctx);
      cleanup.push(env);
      const n = s.s3 ? opts.s3Trials : opts.trials;
      const r: ScenarioResult = {
        name: s.name,
        description: s.description,
        trials: n,
        passed: 0,
        dataLost: 0,
        manualSteps: 0,
        seconds: 0,
        failures: [],
      };
      for (let i = 0; i < n; i++) {
        let o: TrialOutcome;
        try {
          o = await s.trial(env, rng, i);
        } catch (err) {
          o = {
            ok: false,
            dataLost: 0,
            manualSteps: 0,
            note: `trial crashed: ${(err as Error).stack ?? String(err)}`,
          };
        }
        if (o.ok) r.passed++;
        else r.failures.push(`trial ${i}: ${o.note ?? 'failed'}`);
        r.dataLost += o.dataLost;
        r.manualSteps += o.manualSteps;
        opts.onTrial?.(s.name, i, o);
      }
      r.seconds = Math.round((performance.now() - t0) / 100) / 10;
      results.push(r);
      env.cleanup?.();
      rmSync(env.dir, { recursive: true, force: true }); // each scenario's folder goes when it is done
    }
  } finally {
    await proxy?.close();
    await server?.close();
    for (const e of cleanup) {
      try {
        e.cleanup?.();
      } catch {
        // already unmounted when the scenario ended
      }
      rmSync(e.dir, { recursive: true, force: true });
    }
  }
  return results;
}

export function markdownTable(results: ScenarioResult[]): string {
  const lines = [
    '| scenario | what | trials | passed | data lost | manual steps | time |',
    '|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.description} | ${r.trials} | ${r.passed} | ${r.dataLost} | ${r.manualSteps} | ${r.seconds} s |`,
    ),
  ];
  return lines.join('\n');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const trials = Number(arg('trials') ?? 50);
  const s3Trials = Number(arg('s3-trials') ?? 20);
  const seed = Number(arg('seed') ?? Date.now() % 100000);
  const only = arg('only')?.split(',');
  const t0 = performance.now();
  process.stderr.write(
    `fault campaign: seed ${seed}, ${trials} trials per kill scenario, ${s3Trials} per S3 scenario\n`,
  );
  const results = await runCampaign({
    trials,
    s3Trials,
    seed,
    ...(only ? { only } : {}),
    onTrial: (s, i, o) =>
      process.stderr.write(`${s} #${i}: ${o.ok ? 'ok' : 'FAILED'}${o.note ? ` — ${o.note}` : ''}\n`),
  });
  const total = Math.round((performance.now() - t0) / 1000);
  process.stdout.write(markdownTable(results) + `\n\nseed ${seed}, total ${total} s\n`);
  for (const r of results) for (const f of r.failures) process.stdout.write(`- ${r.name}: ${f}\n`);
  const out = arg('json');
  if (out) writeFileSync(out, JSON.stringify({ seed, totalSeconds: total, results }, null, 2));
  const bad = results.some((r) => r.passed !== r.trials || r.dataLost || r.manualSteps);
  process.exitCode = bad ? 1 : 0;
}
