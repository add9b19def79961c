/**
 * Benchmark reporting: hrtime timing, a table of ours vs the peer with the ratio (ours / peer: below 1.0
 * means we are faster or smaller), and JSON lines appended to bench/results/<bench>.jsonl with the machine
 * they were measured on, so figures from noisy shared machines can be compared honestly later.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Milliseconds elapsed since `start` (a process.hrtime.bigint() value). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Runs `fn` and returns its result with its wall time in ms. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { ms: msSince(start), result };
}

export type Unit = 'ms' | 'bytes' | 'count';

/** One measured quantity: ours beside the peer's, measured in the same run. */
export interface Comparison {
  metric: string;
  unit: Unit;
  ours: number;
  peer: number;
  /** Name of the peer ("restic 0.14.0"). */
  peerName: string;
  /** A goal for the ratio (e.g. 1.0 = no slower; 0.1 = a tenth of the bytes), shown and recorded. */
  goalRatio?: number;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  totalMemBytes: number;
  node: string;
  platform: string;
  hostname: string;
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    hostname: os.hostname(),
    loadavg: os.loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

/** ours / peer; Infinity when the peer measured 0 and we did not. */
export function ratio(c: Pick<Comparison, 'ours' | 'peer'>): number {
  if (c.peer === 0) return c.ours === 0 ? 1 : Number.POSITIVE_INFINITY;
  return c.ours / c.peer;
}

export function formatValue(value: number, unit: Unit): string {
  if (unit === 'ms') return value < 1000 ? `${value.toFixed(0)} ms` : `${(value / 1000).toFixed(2)} s`;
  if (unit === 'bytes') {
    if (value >= 1e9) return `${(value / 1e9).toFixed(2)} GB`;
    if (value >= 1e6) return `${(value / 1e6).toFixed(1)} MB`;
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)} kB`;
    return `${value} B`;
  }
  return String(value);
}

/** The comparison table as text: metric, ours, peer, ratio, and the goal when there is one. */
export function formatTable(rows: Comparison[]): string {
  const header = ['metric', 'ours', 'peer', 'ours/peer', 'goal'];
  const body = rows.map((r) => {
    const q = ratio(r);
    const goal =
      r.goalRatio === undefined ? '' : `${q <= r.goalRatio ? 'met' : 'MISSED'} (<= ${r.goalRatio})`;
    return [
      r.metric,
      formatValue(r.ours, r.unit),
      `${formatValue(r.peer, r.unit)} (${r.peerName})`,
      q.toFixed(3),
      goal,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Prints the table to stdout. */
export function printTable(title: string, rows: Comparison[]): void {
  console.log(`\n${title}\n${formatTable(rows)}\n`);
}

/**
 * Appends one JSON line per comparison to bench/results/<bench>.jsonl (or `dir`), each with the run's date,
 * machine and any extra facts (data sizes, seeds), and returns the records written.
 */
export function appendResults(
  bench: string,
  rows: Comparison[],
  extra: Record<string, unknown> = {},
  dir = RESULTS_DIR,
): Array<Record<string, unknown>> {
  return appendRecords(
    bench,
    rows.map((r) => ({ ...r, ratio: ratio(r), ...extra })),
    dir,
  );
}

/** Appends free-form records (e.g. a peer-only baseline) as JSON lines, each with bench, date and machine. */
export function appendRecords(
  bench: string,
  records: Array<Record<string, unknown>>,
  dir = RESULTS_DIR,
): Array<Record<string, unknown>> {
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString();
  const machine = machineInfo();
  const lines = records.map((r) => ({ bench, date, ...r, machine }));
  appendFileSync(path.join(dir, `${bench}.jsonl`), lines.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return lines;
}
