/**
 * PostgreSQL ingest benchmark: N entries from 4 processes at once through the public logger into
 * one PostgreSQL log store (writer thread, group commit, advisory-locked chain, awaited-durable at
 * the end and searchable at once: the text index is written with the entries), against 4 pino
 * processes writing the same entries to 4 files, in the same run. Reports the wall time until the
 * last process is done, the throughput ratio ours/pino (goal >= 1.0), and the event-loop time per
 * call in the logging processes (goal: ours <= 0.5x pino's). Uses a fresh database on the server
 * named by SAFETYNET_BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres), dropped after.
 *
 *   npx tsx bench/log/pg-ingest.ts [--count 1000000] [--procs 4]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import pg from 'pg';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import { machineInfo } from '../lib/report.js';
import { dropBenchDatabase, freshBenchDatabase } from './pg-db.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const COUNT = arg('count', 1_000_000);
const PROCS = arg('procs', 4);
const CHILD = fileURLToPath(new URL('./pg-ingest-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ChildResult {
  ms: number;
  loopMs: number;
  calls: number;
  cpuMs: number;
}

/**
 * CPU used by this database's backends while `work` runs: pg_stat_activity is sampled every 100 ms
 * for the backends' pids and /proc read for each (the server must run on this machine; a backend
 * that ends loses at most its last 100 ms). Undefined when /proc cannot be read.
 */
async function serverCpu<T>(url: string, work: () => Promise<T>): Promise<{ result: T; cpuMs?: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const seen = new Map<number, { first: number; last: number }>();
  let readable = true;
  const sample = async () => {
    const r = await c.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    for (const { pid } of r.rows) {
      const ms = procCpuMs(pid);
      if (ms === undefined) {
        readable = false;
        continue;
      }
      const s = seen.get(pid);
      if (s) s.last = ms;
      else seen.set(pid, { first: ms, last: ms });
    }
  };
  await sample();
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 100));
      await sample().catch(() => {});
    }
  })();
  try {
    const result = await work();
    return {
      result,
      ...(readable ? { cpuMs: [...seen.values()].reduce((a, s) => a + s.last - s.first, 0) } : {}),
    };
  } finally {
    running = false;
    await loop;
    await c.end();
  }
}

function procCpuMs(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(parts[11]) + Number(parts[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

async function runSide(
  side: 'ours' | 'pino',
  target: (i: number) => string,
  spool: string,
): Promise<{ wallMs: number; results: ChildResult[] }> {
  const per = Math.ceil(COUNT / PROCS);
  const procs = Array.from({ length: PROCS }, (_, i) =>
    spawn(process.execPath, ['--import', 'tsx', CHILD, side, target(i), spool, String(per), String(42 + i)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const outputs = procs.map((p) => {
    let buf = '';
    p.stdout.on('data', (d: Buffer) => (buf += d.toString()));
    return {
      ready: new Promise<void>((r) => {
        const check = () => (buf.includes('ready\n') ? r() : setTimeout(check, 20));
        check();
      }),
      done: new Promise<ChildResult>((resolve, reject) =>
        p.on('exit', (code) => {
          if (code !== 0) return reject(new Error(`${side} child exited ${code}`));
          const line = buf
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .pop()!;
          resolve(JSON.parse(line) as ChildResult);
        }),
      ),
    };
  });
  await Promise.all(outputs.map((o) => o.ready));
  const t0 = performance.now();
  for (const p of procs) p.stdin.end('go\n');
  const results = await Promise.all(outputs.map((o) => o.done));
  return { wallMs: performance.now() - t0, results };
}

async function main(): Promise<void> {
  console.log(
    `PostgreSQL ingest: ${COUNT.toLocaleString('en')} entries from ${PROCS} processes`,
    machineInfo().cpuModel,
  );
  const url = await freshBenchDatabase();
  const dir = path.join(os.tmpdir(), `sn-bench-pg-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    // Create the schema first (as a running shop would have), so migrations are not timed.
    const setup = new PostgresLogStore({ connectionString: url });
    await setup.maintain();
    await setup.close();
    const pinoRun = await runSide('pino', (i) => path.join(dir, `app-${i}.log`), dir);
    const pinoBytes = Array.from(
      { length: PROCS },
      (_, i) => statSync(path.join(dir, `app-${i}.log`)).size,
    ).reduce((a, b) => a + b, 0);
    const load0 = os.loadavg();
    const { result: ours, cpuMs: serverMs } = await serverCpu(url, () =>
      runSide('ours', () => url, path.join(dir, 'spool')),
    );
    const store = new PostgresLogStore({ connectionString: url });
    const { counts } = await store.countByLevel({});
    const stored = Object.values(counts).reduce((a, b) => a + b, 0);
    const t0 = performance.now();
    const v = await store.verifyChain();
    const verifyMs = performance.now() - t0;
    const found = (await store.countByLevel({ text: 'refund' })).counts.info;
    await store.close();
    const perSec = (r: { wallMs: number }) => (COUNT / r.wallMs) * 1000;
    const loopUs = (r: { results: ChildResult[] }) =>
      (r.results.reduce((a, x) => a + x.loopMs, 0) * 1000) / r.results.reduce((a, x) => a + x.calls, 0);
    const cpuUs = (r: { results: ChildResult[] }) =>
      (r.results.reduce((a, x) => a + x.cpuMs, 0) * 1000) / COUNT;
    console.log(
      `  safetynet (PostgreSQL, durable): ${(ours.wallMs / 1000).toFixed(2)} s, ${Math.round(perSec(ours)).toLocaleString('en')} entries/s, event loop ${loopUs(ours).toFixed(2)} µs/call; stored ${stored.toLocaleString('en')}${stored === COUNT ? '' : ` (NOT ALL: ${COUNT - stored} missing)`}, chains verify ${v.ok} (${(verifyMs / 1000).toFixed(1)} s), text "refund" finds ${found.toLocaleString('en')} at once`,
    );
    console.log(
      `    CPU per entry: logging processes ${cpuUs(ours).toFixed(1)} µs (all threads), PostgreSQL backends ${serverMs === undefined ? 'n/a' : ((serverMs * 1000) / COUNT).toFixed(1) + ' µs'}; load before ${load0.map((x) => x.toFixed(1)).join(' ')}, after ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
    console.log(
      `  pino (4 files, async 4 KiB):     ${(pinoRun.wallMs / 1000).toFixed(2)} s, ${Math.round(perSec(pinoRun)).toLocaleString('en')} entries/s, event loop ${loopUs(pinoRun).toFixed(2)} µs/call, ${(pinoBytes / 1e6).toFixed(0)} MB; CPU per entry ${cpuUs(pinoRun).toFixed(1)} µs`,
    );
    console.log(
      `  CPU ratio ours (processes + server) / pino: ${serverMs === undefined ? 'n/a' : ((cpuUs(ours) + (serverMs * 1000) / COUNT) / cpuUs(pinoRun)).toFixed(2)}`,
    );
    console.log(`  throughput ratio ours/pino: ${(perSec(ours) / perSec(pinoRun)).toFixed(2)} (goal >= 1.0)`);
    console.log(
      `  event-loop time ratio ours/pino: ${(loopUs(ours) / loopUs(pinoRun)).toFixed(2)} (goal <= 0.5)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropBenchDatabase(url);
  }
}

await main();
