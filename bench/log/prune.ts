/**
 * Retention benchmark: prune 10% of the 10M-entry store (the oldest 40 of 400 days) while a shop
 * process keeps logging into the same store, and report the longest time one of its awaited
 * entries had to wait (its "stall"). The peer, in the same run on a second copy, is what a plain
 * retention job does (WooCommerce's logger: one `DELETE … WHERE timestamp < ?`).
 *
 *   npx tsx bench/log/prune.ts [--count 10000000] [--no-peer]
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { machineInfo } from '../lib/report.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { searchFilePath } from '../../src/log/store/sqlite/search-file.js';
import { DATA_DIR, ensureLogFixture } from './fixture.js';

const args = process.argv.slice(2);
const COUNT = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) : 10_000_000;
const PEER = !args.includes('--no-peer');
const DAY = 86_400_000;
const WRITER = fileURLToPath(new URL('./prune-writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface WindowStats {
  seconds: number;
  awaited: number;
  written: number;
  p50: number;
  p99: number;
  max: number;
}

/** Starts the writer on `file`; returns a function that closes the current window and reports it. */
async function startWriter(file: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WRITER, file, path.join(path.dirname(file), 'spool')],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  lines.on('line', (l) => (waiters.length ? waiters.shift()!(l) : queue.push(l)));
  const nextLine = () => new Promise<string>((r) => (queue.length ? r(queue.shift()!) : waiters.push(r)));
  await nextLine(); // ready
  return {
    async report(): Promise<WindowStats> {
      child.stdin!.write('report\n');
      return JSON.parse(await nextLine()) as WindowStats;
    },
    async stop(): Promise<void> {
      child.stdin!.write('stop\n');
      await new Promise((r) => child.on('exit', r));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (s: WindowStats) =>
  `${s.awaited} awaited (+${s.written - s.awaited} un-awaited) in ${s.seconds.toFixed(1)} s; latency p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;

async function run(
  label: string,
  file: string,
  prune: (store: SqliteLogStore, cutoff: number) => Promise<{ deleted: number; longestTxMs: number }>,
) {
  const store = SqliteLogStore.open(file, { busyTimeoutMs: 120_000 });
  const fx = await ensureLogFixture(COUNT);
  const cutoff = fx.endMs - 360 * DAY; // the oldest 40 of 400 days: 10%
  const writer = await startWriter(file);
  await sleep(1000);
  await writer.report(); // discard start-up
  await sleep(4000);
  const before = await writer.report();
  const t0 = performance.now();
  const r = await prune(store, cutoff);
  const ms = performance.now() - t0;
  const during = await writer.report();
  await writer.stop();
  store.closeSync();
  console.log(`${label}`);
  console.log(
    `  deleted ${r.deleted.toLocaleString('en')} entries in ${(ms / 1000).toFixed(1)} s; longest delete transaction ${r.longestTxMs.toFixed(0)} ms`,
  );
  console.log(`  writer before: ${fmt(before)}`);
  console.log(`  writer during: ${fmt(during)}`);
  return { during, before, ms, deleted: r.deleted };
}

async function main(): Promise<void> {
  const fx = await ensureLogFixture(COUNT);
  console.log(
    `retention benchmark: prune 10% of ${COUNT.toLocaleString('en')} entries while a writer logs; ${machineInfo().cpuModel}, load ${machineInfo().loadavg.join(' ')}`,
  );
  const work = path.join(DATA_DIR, 'log-prune');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });

  const oursFile = path.join(work, 'ours', 'logs.sqlite');
  mkdirSync(path.dirname(oursFile), { recursive: true });
  copyFileSync(fx.file, oursFile);
  // The search file too (derived data: without it the writer's indexer would rebuild it meanwhile).
  copyFileSync(searchFilePath(fx.file), searchFilePath(oursFile));
  const ours = await run('safetynet (bounded batches)', oursFile, async (store, cutoff) => {
    const cats = await store.categories();
    const report = await store.prune({
      cutoffs: Object.fromEntries(cats.map((c) => [c, cutoff])),
      defaultCutoff: cutoff,
    });
    return { deleted: report.total, longestTxMs: report.longestBatchMs };
  });
  rmSync(path.dirname(oursFile), { recursive: true, force: true });

  if (PEER) {
    const peerFile = path.join(work, 'peer', 'logs.sqlite');
    mkdirSync(path.dirname(peerFile), { recursive: true });
    copyFileSync(fx.file, peerFile);
    copyFileSync(searchFilePath(fx.file), searchFilePath(peerFile));
    const peer = await run(
      'peer: one DELETE … WHERE ts < cutoff (WooCommerce-style)',
      peerFile,
      async (store, cutoff) => {
        const t0 = performance.now();
        const deleted = store.db.prepare('DELETE FROM logs WHERE ts < ?').run(cutoff).changes;
        return { deleted, longestTxMs: performance.now() - t0 };
      },
    );
    console.log(
      `longest writer stall during the prune: ours ${ours.during.max.toFixed(0)} ms, peer ${peer.during.max.toFixed(0)} ms, ratio ${(ours.during.max / peer.during.max).toFixed(3)} (goal: ours < 100 ms)`,
    );
  } else {
    console.log(`longest writer stall during the prune: ${ours.during.max.toFixed(0)} ms (goal < 100 ms)`);
  }
  rmSync(work, { recursive: true, force: true });
}

await main();
