/**
 * Issue 5 figures: achieved RTO and RPO from `safetynet drill` on the ~1 GiB shop database and the
 * ~940 MB shop file tree (DESIGN.md §7), with the default schedule and with a 1-minute incremental
 * schedule, and the CPU share the 1-minute schedule costs the machine (serve's CPU time over the
 * window, divided by wall time × cores).
 *
 *   npx tsx bench/drill/drill-bench.ts [--minutes 4] [--keep-work]
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendRecords } from '../lib/report.js';
import { runSafetynet, SAFETYNET_CLI } from '../lib/safetynet.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const data = path.join(root, 'bench', '.data');
const work = path.join(data, 'work-drill');
const minutes = Number(process.argv[process.argv.indexOf('--minutes') + 1] || 4);

function sn(args: string[], config: string): { ms: number; out: string; code: number } {
  const r = runSafetynet(config, args);
  return { ms: r.ms, out: r.stdout, code: r.code };
}

function writeConfig(file: string, incremental: string): void {
  writeFileSync(
    file,
    JSON.stringify({
      database: { path: 'shop.sqlite' },
      logs: { store: { path: 'logs.sqlite' }, spool: 'spool' },
      backup: {
        repository: 'repo',
        stateDir: 'state',
        recipients: [
          execFileSync('age-keygen', ['-y', path.join(work, 'key.txt')])
            .toString()
            .trim(),
        ],
        identity: 'key.txt',
        timezone: 'UTC',
        schedule: { incremental },
        files: [
          { name: 'invoices', path: 'files/invoices' },
          { name: 'images', path: 'files/images' },
          { name: 'config', path: 'files/config' },
        ],
      },
      admin: { port: 0 },
    }),
  );
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

async function main(): Promise<void> {
  if (!existsSync(path.join(data, 'shop.pristine.sqlite')) || !existsSync(path.join(data, 'files'))) {
    throw new Error('build the data first (see bench/README.md)');
  }
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  copyFileSync(path.join(data, 'shop.pristine.sqlite'), path.join(work, 'shop.sqlite'));
  execFileSync('cp', ['-a', path.join(data, 'files'), path.join(work, 'files')]);
  execFileSync('age-keygen', ['-o', path.join(work, 'key.txt')], { stdio: 'pipe' });
  const config = path.join(work, 'safetynet.config.json');

  // Default schedule: one `backup all`, then a drill.
  writeConfig(config, '0 * * * *');
  const first = sn(['backup', 'all', '--json'], config);
  if (first.code !== 0) throw new Error('backup all failed');
  const drillDefault = JSON.parse(sn(['drill', '--json'], config).out) as Record<string, unknown>;
  const incDefault = sn(['backup', 'db', '--incremental', '--json'], config);

  // 1-minute incrementals under steady shop traffic, with serve running.
  writeConfig(config, '* * * * *');
  const shop = spawn(
    process.execPath,
    [
      path.join(path.dirname(fileURLToPath(import.meta.url)), 'shop-activity.cjs'),
      path.join(work, 'shop.sqlite'),
      '20',
    ],
    { stdio: 'ignore' },
  );
  const serve = spawn(
    process.execPath,
    [SAFETYNET_CLI, '--config', config, 'serve', '--no-panel', '--catch-up-delay', '0s'],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 90_000)); // settle: catch-up runs, first incrementals
  const cpu0 = cpuSeconds(serve.pid!);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, minutes * 60_000));
  // Drill 50 s past a minute boundary: close to the worst moment of a 1-minute schedule.
  const wait = (110_000 - (Date.now() % 60_000)) % 60_000;
  await new Promise((r) => setTimeout(r, wait));
  const cpu1 = cpuSeconds(serve.pid!);
  const wallS = (Date.now() - t0) / 1000;
  const drillMinute = JSON.parse(sn(['drill', '--json'], config).out) as Record<string, unknown>;
  serve.kill('SIGTERM');
  shop.kill('SIGTERM');
  await new Promise((r) => serve.on('close', r));
  const list = sn(['backups', 'list', '--json'], config)
    .out.trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; time: string });
  const incs = list.filter((p) => p.kind === 'incremental').map((p) => Date.parse(p.time));
  const gaps = incs.slice(1).map((t, i) => t - incs[i]!);
  const cpuShare = (cpu1 - cpu0) / wallS / cpus().length;

  const rec = {
    default: {
      rtoMs: drillDefault.rtoMs,
      rpoMs: drillDefault.rpoMs,
      ok: drillDefault.ok,
      incrementalMs: incDefault.ms,
      steps: drillDefault.steps,
    },
    minute: {
      rtoMs: drillMinute.rtoMs,
      rpoMs: drillMinute.rpoMs,
      ok: drillMinute.ok,
      steps: drillMinute.steps,
      maxGapMs: Math.max(...gaps),
      incrementals: incs.length,
    },
    cpu: { seconds: cpu1 - cpu0, wallS, cores: cpus().length, share: cpuShare },
  };
  console.log(JSON.stringify(rec, null, 2));
  console.log(
    `default schedule: RTO ${(Number(drillDefault.rtoMs) / 1000).toFixed(1)} s, RPO at the drill ${(Number(drillDefault.rpoMs) / 1000).toFixed(1)} s (worst case: 1 h + an incremental, ${(incDefault.ms / 1000).toFixed(1)} s)`,
  );
  console.log(
    `1-minute incrementals: RTO ${(Number(drillMinute.rtoMs) / 1000).toFixed(1)} s, RPO ${(Number(drillMinute.rpoMs) / 1000).toFixed(1)} s, largest gap between points ${(Math.max(...gaps) / 1000).toFixed(1)} s, serve CPU ${(cpuShare * 100).toFixed(1)} % of ${cpus().length} cores`,
  );
  appendRecords('drill', [rec]);
  if (!process.argv.includes('--keep-work')) rmSync(work, { recursive: true, force: true });
}

await main();
