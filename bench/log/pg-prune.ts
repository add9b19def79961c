/**
 * PostgreSQL retention benchmark: remove one day of N entries (default 1,000,000) while a shop
 * process keeps logging into the same store through the public logger (bench/log/prune-writer.ts:
 * one awaited entry and four un-awaited ones in a loop), and report the longest time one of its
 * awaited entries waited (its "stall") before and during the removal, and how long the removal
 * took. The day is the first of its week partition, with entries on the following days too, so
 * the week cannot simply be dropped: this is the daily case. With --peer the same store is built
 * a second time and the day removed with one `DELETE … WHERE ts < cutoff` (what a plain retention
 * job does), in the same run.
 *
 * After the removal the writer is watched for as long again (up to 60 s) without it: the stalls
 * of a loaded machine are the baseline the removal's are compared with.
 *
 *   npx tsx bench/log/pg-prune.ts [--day 1000000] [--peer] [--batch 1000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PARTITION_MS } from '../../src/log/store/postgres/schema.js';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { machineInfo } from '../lib/report.js';
import { entryStream } from './entries.js';
import { dropBenchDatabase, freshBenchDatabase } from './pg-db.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const DAY_COUNT = arg('day', 1_000_000);
const PEER = args.includes('--peer');
const BATCH = arg('batch', 0);
const DAY = 86_400_000;
const WRITER = fileURLToPath(new URL('./prune-writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The big day: the first day of a week partition some 200 days ago. */
const D0 = (Math.floor((Date.now() - 200 * DAY) / PARTITION_MS) + 1) * PARTITION_MS;

interface WindowStats {
  seconds: number;
  awaited: number;
  written: number;
  p50: number;
  p99: number;
  max: number;
}

async function build(url: string): Promise<void> {
  const store = new PostgresLogStore({ connectionString: url });
  const next = entryStream(5);
  const t0 = performance.now();
  const later = 13 * 20_000; // 20k entries on each of the 13 following days
  const total = DAY_COUNT + later;
  for (let done = 0; done < total;) {
    const n = Math.min(8192, total - done);
    const rows: AppendRow[] = new Array<AppendRow>(n);
    for (let i = 0; i < n; i++) {
      const k = done + i;
      const e = next();
      const ts =
        k < DAY_COUNT
          ? D0 + Math.floor((k / DAY_COUNT) * DAY)
          : D0 + DAY + Math.floor(((k - DAY_COUNT) / later) * 13 * DAY);
      rows[i] = {
        ts,
        level: e.level,
        category: e.category,
        message: e.message,
        details: JSON.stringify(e.details ?? {}),
        orderId: e.orderId ?? null,
        errorStack: e.stack ?? null,
      };
    }
    await store.append(rows);
    done += n;
  }
  await store.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('VACUUM ANALYZE safetynet_log.logs');
  await c.end();
  console.log(
    `  built ${total.toLocaleString('en')} entries (${DAY_COUNT.toLocaleString('en')} on one day) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

async function startWriter(url: string, spool: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, url, spool], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
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
  `${s.awaited} awaited (+${s.written - s.awaited}) in ${s.seconds.toFixed(1)} s; p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;

async function run(label: string, remove: (url: string) => Promise<{ deleted: number; detail: string }>) {
  const url = await freshBenchDatabase();
  const spool = mkdtempSync(path.join(os.tmpdir(), 'sn-pg-prune-'));
  try {
    await build(url);
    const writer = await startWriter(url, spool);
    await sleep(1000);
    await writer.report(); // start-up
    await sleep(5000);
    const before = await writer.report();
    const load = os.loadavg();
    const t0 = performance.now();
    const r = await remove(url);
    const ms = performance.now() - t0;
    const during = await writer.report();
    await sleep(Math.min(60_000, Math.max(5000, ms)));
    const after = await writer.report();
    await writer.stop();
    console.log(
      `${label}: removed ${r.deleted.toLocaleString('en')} entries in ${(ms / 1000).toFixed(1)} s (${r.detail}); load ${load.map((x) => x.toFixed(1)).join(' ')}`,
    );
    console.log(`  writer before:  ${fmt(before)}`);
    console.log(`  writer during:  ${fmt(during)}`);
    console.log(`  writer after:   ${fmt(after)}`);
    return { before, during, after, ms };
  } finally {
    rmSync(spool, { recursive: true, force: true });
    await dropBenchDatabase(url);
  }
}

async function main(): Promise<void> {
  console.log(
    `PostgreSQL retention: remove a day of ${DAY_COUNT.toLocaleString('en')} entries while a process logs; ${machineInfo().cpuModel}`,
  );
  const cutoff = D0 + DAY;
  const ours = await run('safetynet prune', async (url) => {
    const store = new PostgresLogStore({ connectionString: url });
    try {
      const r = await store.prune({
        cutoffs: {},
        defaultCutoff: cutoff,
        ...(BATCH ? { batchSize: BATCH } : {}),
      });
      return {
        deleted: r.total,
        detail: `${r.batches} transactions, longest ${r.longestBatchMs.toFixed(0)} ms`,
      };
    } finally {
      await store.close();
    }
  });
  if (PEER) {
    const peer = await run('peer: one DELETE … WHERE ts < cutoff', async (url) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const r = await c.query('DELETE FROM safetynet_log.logs WHERE ts < $1', [cutoff]);
        return { deleted: r.rowCount ?? 0, detail: 'one statement' };
      } finally {
        await c.end();
      }
    });
    console.log(
      `longest writer stall during removal: ours ${ours.during.max.toFixed(0)} ms, peer ${peer.during.max.toFixed(0)} ms; time to remove: ours ${(ours.ms / 1000).toFixed(1)} s, peer ${(peer.ms / 1000).toFixed(1)} s (goal: stall < 100 ms)`,
    );
  } else {
    console.log(
      `longest writer stall during removal: ${ours.during.max.toFixed(0)} ms (p99 ${ours.during.p99.toFixed(0)} ms); in as long a window after it: ${ours.after.max.toFixed(0)} ms (p99 ${ours.after.p99.toFixed(0)} ms) (goal < 100 ms)`,
    );
  }
}

await main();
