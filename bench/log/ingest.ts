/**
 * Ingest benchmark: 1,000,000 entries through the public logger API into the durable SQLite store
 * (worker thread, group commit, WAL + synchronous=FULL, hash chain, redaction), against pino
 * writing the same entries to a file (pino.destination, async, 4 KiB buffer), in the same run.
 *
 *   npx tsx bench/log/ingest.ts [--count 1000000] [--rounds 5] [--only ours|pino]
 *
 * Each run (one side, one round) is a process of its own, started by this one; it builds the
 * same entries from the same seed.
 * Both loggers get the same pre-built entries and the same calling pattern: calls are not
 * awaited, and the loop yields to the event loop every 1,000 calls (as a server does between
 * requests). The default queue limits apply, so a burst like this overflows to disk (see
 * docs/logging.md, "Bursts and overflow"); a run whose store does not hold every entry it logged
 * fails (exit code 1).
 *
 * Reported per round, for ours: when the last call returned, when flush() said everything was
 * durable (in the store, or fsync'd in an overflow file), when the store held every entry
 * (`stored`: the time compared with pino's), when the text index had caught up (`searchable`);
 * for pino: when the last call returned and when its file had everything (`dest.flush`). Beside
 * each: the event-loop time per call (main-thread busy time / entries, from
 * performance.eventLoopUtilization, which also counts acknowledging the writes), the time in the
 * calls themselves, and CPU time (user + system, from /proc) of the main thread and of all other
 * threads (ours: the writer thread, the thread pool's fsyncs and the garbage collector's helpers;
 * pino: its async writes and the same helpers): CPU time is what to compare on a loaded machine.
 * At the end, the medians of the ratios over the rounds (who goes first alternates).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { createLogger } from '../../src/log/index.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { entryStream, type SynthEntry } from './entries.js';
import { machineInfo } from '../lib/report.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const COUNT = arg('count', 1_000_000);
/** `--only ours` or `--only pino` runs one side (for profiling); the ratio needs both. */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const ROUNDS = arg('rounds', 5);
const YIELD_EVERY = 1000;

const DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.data', 'log-ingest');

interface Prepared extends SynthEntry {
  err?: Error;
}

function prepare(): Prepared[] {
  const next = entryStream(42);
  const out: Prepared[] = new Array<Prepared>(COUNT);
  for (let i = 0; i < COUNT; i++) {
    const e: Prepared = next();
    if (e.stack) {
      const err = new Error(e.message);
      err.stack = e.stack;
      e.err = err;
    }
    out[i] = e;
  }
  return out;
}

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS = 100;

/**
 * CPU seconds (user + system) used so far by this process's main thread, by all its other threads,
 * and by each thread (by id: the busiest other thread of a run is our writer).
 */
function threadCpu(): { main: number; other: number; byTid: Map<string, number> } {
  let main = 0;
  let other = 0;
  const byTid = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const s = (Number(f[11]) + Number(f[12])) / TICKS;
    byTid.set(tid, s);
    if (Number(tid) === process.pid) main += s;
    else other += s;
  }
  return { main, other, byTid };
}

/** CPU seconds between two threadCpu() readings of the busiest thread other than the main one. */
function busiestOther(
  a: ReturnType<typeof threadCpu>,
  b: ReturnType<typeof threadCpu>,
): { tid: string; cpu: number } {
  let best = { tid: '', cpu: 0 };
  for (const [tid, s] of b.byTid) {
    const cpu = s - (a.byTid.get(tid) ?? 0);
    if (Number(tid) !== process.pid && cpu > best.cpu) best = { tid, cpu };
  }
  return best;
}

/**
 * Nanosecond counters of one thread from /proc (schedstat): time on a CPU, and time runnable but
 * waiting for one (the machine's load). Wall time minus both is time the thread was blocked (I/O,
 * fsync, waiting for work): what a quiet machine cannot hide.
 */
function schedstat(tid: string): { run: number; wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return { run: run! / 1e9, wait: wait! / 1e9 };
  } catch {
    return { run: 0, wait: 0 };
  }
}

interface Result {
  /** Last call returned, ms from the first. */
  callsMs: number;
  /** flush() resolved (ours: durable in the store or an overflow file; pino: dest.flush). */
  flushMs: number;
  /** Ours: every entry in the store. Pino: = flushMs. */
  ms: number;
  /** Ours: the text index caught up. */
  indexedMs?: number;
  perSec: number;
  loopUsPerCall: number;
  callUsPerCall: number;
  /** CPU seconds from the first call to `ms`: main thread, other threads, the busiest other thread. */
  cpuMain: number;
  cpuOther: number;
  cpuBusiest: number;
  /** The busiest other thread (ours: the writer) until `ms`: seconds waiting for a CPU, and blocked. */
  busiestWait: number;
  busiestBlocked: number;
  /** The main thread until `ms`: seconds waiting for a CPU (runnable, another thread had it). */
  mainWait: number;
  bytes: number;
}

async function runOurs(entries: Prepared[]): Promise<Result> {
  const dir = path.join(DATA, 'ours');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const storePath = path.join(dir, 'logs.sqlite');
  const log = await createLogger({ storePath, spoolDir: path.join(dir, 'spool') });
  const cpu0 = threadCpu();
  const sched0 = new Map([...cpu0.byTid.keys()].map((t) => [t, schedstat(t)]));
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let callMs = 0;
  for (let i = 0; i < entries.length; i += YIELD_EVERY) {
    const c0 = performance.now();
    const end = Math.min(entries.length, i + YIELD_EVERY);
    for (let j = i; j < end; j++) {
      const e = entries[j]!;
      if (e.err)
        void log.error(e.err, {
          category: e.category,
          level: e.level,
          orderId: e.orderId,
          details: e.details,
        });
      else void log.category(e.category)[e.level](e.message, { orderId: e.orderId, details: e.details });
    }
    callMs += performance.now() - c0;
    await yieldNow();
  }
  const callsMs = performance.now() - t0;
  const flushed = await log.flush({ timeoutMs: 600_000 });
  const flushMs = performance.now() - t0;
  if (!flushed.durable)
    throw new Error(`flush() did not make every entry durable: ${JSON.stringify(flushed)}`);
  // A reader watches the store fill up: polling costs the main thread a query every 5 ms, counted
  // in the event-loop time.
  const reader = SqliteLogStore.open(storePath, { readonly: true });
  const lastId = reader.db.prepare("SELECT value FROM meta WHERE key = 'next_id'").pluck();
  while (Number(lastId.get()) - 1 < entries.length) await new Promise((r) => setTimeout(r, 5));
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu1 = threadCpu();
  const writer = busiestOther(cpu0, cpu1);
  // SN_THREADS=1: each thread's CPU seconds on stderr (main, writer, chain helper, GC helpers).
  if (process.env.SN_THREADS)
    console.error(
      [...cpu1.byTid]
        .map(([t, c]) => [t, c - (cpu0.byTid.get(t) ?? 0)] as const)
        .filter(([, c]) => c > 0.05)
        .map(([t, c]) => `${t === String(process.pid) ? 'main' : t}: ${c.toFixed(2)}`)
        .join(', '),
    );
  const writerSched = schedstat(writer.tid);
  const mainWait = schedstat(String(process.pid)).wait - sched0.get(String(process.pid))!.wait;
  // The full-text index trails a burst (it is filled once writes pause): report when it caught up.
  while (reader.ftsBacklog() > 0) await new Promise((r) => setTimeout(r, 20));
  const indexedMs = performance.now() - t0;
  const stored = reader.db.prepare('SELECT count(*) FROM logs').pluck().get() as number;
  reader.closeSync();
  const report = await log.close();
  // The chains must verify too (outside the timed part): a fast store with broken links is a failure.
  const check = SqliteLogStore.open(storePath, { readonly: true });
  const verified = check.verifySync();
  check.closeSync();
  if (!verified.ok || verified.checked !== entries.length)
    throw new Error(`the chains do not verify: ${JSON.stringify(verified)}`);
  // Every entry logged must be in the store, once: anything else is a failure, not a figure.
  if (stored !== entries.length || !report.durable)
    throw new Error(
      `the store holds ${stored.toLocaleString('en')} of ${entries.length.toLocaleString('en')} entries (close: ${JSON.stringify(report)})`,
    );
  return {
    callsMs,
    flushMs,
    ms,
    indexedMs,
    perSec: (entries.length / ms) * 1000,
    loopUsPerCall: (elu.active * 1000) / entries.length,
    callUsPerCall: (callMs * 1000) / entries.length,
    cpuMain: cpu1.main - cpu0.main,
    cpuOther: cpu1.other - cpu0.other,
    cpuBusiest: writer.cpu,
    busiestWait: writerSched.wait - (sched0.get(writer.tid)?.wait ?? 0),
    mainWait,
    busiestBlocked:
      ms / 1000 -
      (writerSched.run - (sched0.get(writer.tid)?.run ?? 0)) -
      (writerSched.wait - (sched0.get(writer.tid)?.wait ?? 0)),
    bytes:
      statSync(storePath).size + (existsSync(`${storePath}-wal`) ? statSync(`${storePath}-wal`).size : 0),
  };
}

async function runPino(entries: Prepared[]): Promise<Result> {
  const dir = path.join(DATA, 'pino');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'app.log');
  const dest = pino.destination({ dest: file, minLength: 4096, sync: false });
  await new Promise<void>((r) => dest.once('ready', () => r()));
  const logger = pino({}, dest);
  const cpu0 = threadCpu();
  const mainSched0 = schedstat(String(process.pid));
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let callMs = 0;
  for (let i = 0; i < entries.length; i += YIELD_EVERY) {
    const c0 = performance.now();
    const end = Math.min(entries.length, i + YIELD_EVERY);
    for (let j = i; j < end; j++) {
      const e = entries[j]!;
      const method = e.level === 'critical' ? 'fatal' : e.level;
      if (e.err)
        logger[method](
          { category: e.category, orderId: e.orderId, details: e.details, err: e.err },
          e.message,
        );
      else logger[method]({ category: e.category, orderId: e.orderId, details: e.details }, e.message);
    }
    callMs += performance.now() - c0;
    await yieldNow();
  }
  const callsMs = performance.now() - t0;
  // pino's own way to make sure everything reached the file.
  await new Promise<void>((resolve) => {
    dest.flush(() => resolve());
  });
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu1 = threadCpu();
  dest.end();
  return {
    callsMs,
    flushMs: ms,
    ms,
    perSec: (entries.length / ms) * 1000,
    loopUsPerCall: (elu.active * 1000) / entries.length,
    callUsPerCall: (callMs * 1000) / entries.length,
    cpuMain: cpu1.main - cpu0.main,
    cpuOther: cpu1.other - cpu0.other,
    cpuBusiest: busiestOther(cpu0, cpu1).cpu,
    busiestWait: 0,
    busiestBlocked: 0,
    mainWait: schedstat(String(process.pid)).wait - mainSched0.wait,
    bytes: statSync(file).size,
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmt = (r: Result) =>
  `${s(r.ms)}, ${Math.round(r.perSec).toLocaleString('en')} entries/s` +
  (r.indexedMs !== undefined
    ? ` (calls done ${s(r.callsMs)}, flush durable ${s(r.flushMs)}, stored ${s(r.ms)}, searchable ${s(r.indexedMs)})`
    : ` (calls done ${s(r.callsMs)})`) +
  `; event loop ${r.loopUsPerCall.toFixed(2)} µs/entry (in the call ${r.callUsPerCall.toFixed(2)} µs; the main thread waited ${r.mainWait.toFixed(2)} s for a CPU)` +
  `; CPU main ${r.cpuMain.toFixed(2)} s + other threads ${r.cpuOther.toFixed(2)} s (busiest ${r.cpuBusiest.toFixed(2)} s` +
  (r.indexedMs !== undefined
    ? `: the writer, which also waited ${r.busiestWait.toFixed(2)} s for a CPU and was blocked ${r.busiestBlocked.toFixed(2)} s)`
    : ')') +
  `; ${(r.bytes / 1e6).toFixed(0)} MB`;

/**
 * Runs one side in a process of its own (`--child ours|pino`) and returns its result. A fresh
 * process per run: measured in one process, pino's time for the same entries varied from 3.3 to
 * 5.1 s between rounds, with the heap the earlier rounds left behind.
 */
function runChild(side: 'ours' | 'pino'): Result {
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', side, '--count', String(COUNT)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"result":'));
  if (r.status !== 0 || !line)
    throw new Error(`the ${side} run failed (exit ${r.status}): ${r.stdout.slice(-2000)}`);
  return (JSON.parse(line) as { result: Result }).result;
}

async function main(): Promise<void> {
  const child = args.includes('--child') ? args[args.indexOf('--child') + 1] : undefined;
  if (child) {
    const entries = prepare();
    const r = child === 'pino' ? await runPino(entries) : await runOurs(entries);
    console.log(JSON.stringify({ result: r }));
    rmSync(path.join(DATA, child === 'pino' ? 'pino' : 'ours'), { recursive: true, force: true });
    return;
  }
  console.log(
    `ingest benchmark: ${COUNT.toLocaleString('en')} entries, ${ROUNDS} round(s), ${os.cpus().length} CPUs`,
    machineInfo().cpuModel,
    `load ${loadavg()}`,
  );
  if (ONLY) {
    const r = runChild(ONLY === 'pino' ? 'pino' : 'ours');
    console.log(`  ${ONLY}: ${fmt(r)}; load ${loadavg()}`);
    return;
  }
  const stored: number[] = [];
  const searchable: number[] = [];
  const loop: number[] = [];
  const cpu: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate the order so neither side always runs on a warmer machine.
    const pinoFirst = round % 2 === 0;
    const p1 = pinoFirst ? runChild('pino') : undefined;
    const ours = runChild('ours');
    const peer = p1 ?? runChild('pino');
    // Ratios ours / pino: at most 1.0 (time), 0.5 (event loop) are the goals.
    stored.push(ours.ms / peer.ms);
    searchable.push(ours.indexedMs! / peer.ms);
    loop.push(ours.loopUsPerCall / peer.loopUsPerCall);
    cpu.push((ours.cpuMain + ours.cpuOther) / (peer.cpuMain + peer.cpuOther));
    console.log(`round ${round} (${pinoFirst ? 'pino first' : 'safetynet first'}), load ${loadavg()}`);
    console.log(`  safetynet (durable SQLite): ${fmt(ours)}`);
    console.log(`  pino (file, async 4 KiB):   ${fmt(peer)}`);
    console.log(
      `  ratio ours/pino: time until stored ${stored.at(-1)!.toFixed(2)}, until searchable ${searchable.at(-1)!.toFixed(2)} (goal <= 1.0); ` +
        `event loop per call ${loop.at(-1)!.toFixed(2)} (goal <= 0.5); CPU time ${cpu.at(-1)!.toFixed(2)}`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `median of ${ROUNDS}: time until stored ${median(stored).toFixed(2)}, until searchable ${median(searchable).toFixed(2)}, ` +
      `event loop ${median(loop).toFixed(2)}, CPU ${median(cpu).toFixed(2)}; all ${COUNT.toLocaleString('en')} entries stored in every round; load ${loadavg()}`,
  );
  rmSync(DATA, { recursive: true, force: true });
}

await main().catch((err: unknown) => {
  console.error(`ingest benchmark FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
