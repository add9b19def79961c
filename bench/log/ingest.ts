/**
 * Ingest benchmark: 1,000,000 entries through the public logger API into the durable SQLite store
 * (worker thread, group commit, WAL + synchronous=FULL, hash chain, redaction), against pino
 * writing the same entries to a file (pino.destination, async, 4 KiB buffer), in the same run.
 *
 *   npx tsx bench/log/ingest.ts [--count 1000000] [--rounds 5]
 *
 * Both loggers get the same pre-built entries and the same calling pattern: calls are not
 * awaited, and the loop yields to the event loop every 1,000 calls (as a server does between
 * requests). Reported: wall time until everything is durable (ours) / flushed (pino), entries per
 * second, the time ratios (until durable, and until the text index has caught up: searchable),
 * medians over the rounds, and the event-loop time per call (main-thread busy time / entries, from
 * performance.eventLoopUtilization, which also counts acknowledging the writes).
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as os from 'node:os';
import pino from 'pino';
import { createLogger } from '../../src/log/index.js';
import { SqliteLogStore } from '../../src/log/store/sqlite-store.js';
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

interface Result {
  ms: number;
  /** Ours only: entries not yet in the text index when all were durable, and when it caught up. */
  backlogAtEnd?: number;
  indexedMs?: number;
  perSec: number;
  loopUsPerCall: number;
  callUsPerCall: number;
  bytes: number;
}

async function runOurs(entries: Prepared[]): Promise<Result> {
  const dir = path.join(DATA, 'ours');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log = await createLogger({
    storePath: path.join(dir, 'logs.sqlite'),
    spoolDir: path.join(dir, 'spool'),
  });
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
  await log.flush();
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  // The full-text index trails a burst (it is filled once writes pause): report when it caught up.
  const reader = SqliteLogStore.open(path.join(dir, 'logs.sqlite'), { readonly: true });
  const backlogAtEnd = reader.ftsBacklog();
  while (reader.ftsBacklog() > 0) await new Promise((r) => setTimeout(r, 50));
  const indexedMs = performance.now() - t0;
  // A logger whose queue is capped drops entries it cannot hold (counted, reported): a run that
  // stored fewer than it logged measured something else, so it says so.
  const stored = reader.db.prepare('SELECT count(*) FROM logs').pluck().get() as number;
  if (stored !== entries.length)
    console.log(
      `  NOTE: the store holds ${stored.toLocaleString('en')} of ${entries.length.toLocaleString('en')} entries`,
    );
  reader.closeSync();
  await log.close();
  return {
    backlogAtEnd,
    indexedMs,
    ms,
    perSec: (entries.length / ms) * 1000,
    loopUsPerCall: (elu.active * 1000) / entries.length,
    callUsPerCall: (callMs * 1000) / entries.length,
    bytes: statSync(path.join(dir, 'logs.sqlite')).size,
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
  // pino's own way to make sure everything reached the file.
  await new Promise<void>((resolve) => {
    dest.flush(() => resolve());
  });
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  dest.end();
  return {
    ms,
    perSec: (entries.length / ms) * 1000,
    loopUsPerCall: (elu.active * 1000) / entries.length,
    callUsPerCall: (callMs * 1000) / entries.length,
    bytes: statSync(file).size,
  };
}

const fmt = (r: Result) =>
  `${(r.ms / 1000).toFixed(2)} s, ${Math.round(r.perSec).toLocaleString('en')} entries/s, event loop ${r.loopUsPerCall.toFixed(2)} µs/entry (in the call ${r.callUsPerCall.toFixed(2)} µs), ${(r.bytes / 1e6).toFixed(0)} MB` +
  (r.indexedMs !== undefined
    ? `; text index ${r.backlogAtEnd!.toLocaleString('en')} behind at the end, caught up at ${(r.indexedMs / 1000).toFixed(2)} s`
    : '');

async function main(): Promise<void> {
  console.log(
    `ingest benchmark: ${COUNT.toLocaleString('en')} entries, ${ROUNDS} round(s)`,
    machineInfo().cpuModel,
  );
  const entries = prepare();
  if (ONLY) {
    const r = ONLY === 'pino' ? await runPino(entries) : await runOurs(entries);
    console.log(`  ${ONLY}: ${fmt(r)}`);
    return;
  }
  const durable: number[] = [];
  const searchable: number[] = [];
  const loop: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate the order so neither side always runs on a warmer machine.
    const pinoFirst = round % 2 === 0;
    const p1 = pinoFirst ? await runPino(entries) : undefined;
    const ours = await runOurs(entries);
    const peer = p1 ?? (await runPino(entries));
    // Ratios of time, ours / pino: at most 1.0 is the goal.
    durable.push(ours.ms / peer.ms);
    searchable.push(ours.indexedMs! / peer.ms);
    loop.push(ours.loopUsPerCall / peer.loopUsPerCall);
    console.log(`round ${round} (${pinoFirst ? 'pino first' : 'safetynet first'}), load ${loadavg()}`);
    console.log(`  safetynet (durable SQLite): ${fmt(ours)}`);
    console.log(`  pino (file, async 4 KiB):   ${fmt(peer)}`);
    console.log(
      `  time ratio ours/pino: durable ${durable.at(-1)!.toFixed(2)}, searchable ${searchable.at(-1)!.toFixed(2)} (goal <= 1.0); event loop per call ${loop.at(-1)!.toFixed(2)} (goal <= 0.5)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `median of ${ROUNDS}: time ratio durable ${median(durable).toFixed(2)}, searchable ${median(searchable).toFixed(2)}, event loop ${median(loop).toFixed(2)}; load ${loadavg()}`,
  );
  rmSync(DATA, { recursive: true, force: true });
}

await main();
