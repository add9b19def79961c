/**
 * What the machine was doing during a timed step, so a benchmark can say why two runs differ:
 * the 1-minute load average when the step began, dirty page-cache bytes waiting for writeback
 * (another engineer's gigabyte, or the previous step's), and over the step itself the share of
 * CPU time that was busy, waiting for the disk (iowait) or taken by the hypervisor (steal).
 */
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadavg } from 'node:os';

export interface Sample {
  load1: number;
  dirtyMB: number;
  /** /proc/stat "cpu" line: user nice system idle iowait irq softirq steal. */
  jiffies: number[];
}

export interface Conditions {
  load1: number;
  dirtyMB: number;
  busyPct: number;
  iowaitPct: number;
  stealPct: number;
  /** CPU time (user + system, all threads) of the tool during the step, when measured. */
  cpuMs?: number;
  /** Minor page faults of the tool during the step (fresh memory it touched), when measured. */
  minorFaults?: number;
  /** µs per empty file created in the work folder just before the step (see createProbe). */
  createUs?: number;
}

/** A sample of the machine now (Linux; zeros elsewhere). */
export function sample(): Sample {
  let dirtyMB = 0;
  let jiffies: number[] = [];
  try {
    const dirty = /^Dirty:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    dirtyMB = dirty ? Number(dirty[1]) / 1024 : 0;
    jiffies = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    // not Linux: report zeros
  }
  return { load1: loadavg()[0]!, dirtyMB, jiffies };
}

/** The conditions between two samples (load and dirty bytes as at the first). */
export function between(a: Sample, b: Sample): Conditions {
  const d = b.jiffies.map((v, i) => v - (a.jiffies[i] ?? 0));
  const total = d.reduce((x, y) => x + y, 0) || 1;
  const pct = (n: number) => Math.round((n / total) * 1000) / 10;
  const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = d;
  return {
    load1: Math.round(a.load1 * 10) / 10,
    dirtyMB: Math.round(a.dirtyMB),
    busyPct: pct(user + nice + system + irq + softirq),
    iowaitPct: pct(iowait),
    stealPct: pct(steal),
  };
}

/**
 * µs per file to create 200 empty files in a new folder under `dir` (left in place: deleting them
 * would itself change what it measures). On ext4 without a journal, as on these VMs, creating a
 * file skips every free inode of its group that was deleted within the last minute (five more if
 * its inode table block is still dirty), reading that block for each: right after a tree of
 * 13,000 files was deleted, a create cost 10x more here (411 µs instead of 40). Restores and first backups create
 * thousands of files, so this is printed beside them.
 */
export function createProbe(dir: string): number {
  const probe = path.join(dir, `create-probe-${process.hrtime.bigint()}`);
  mkdirSync(probe, { recursive: true });
  const t = performance.now();
  for (let i = 0; i < 200; i++) closeSync(openSync(path.join(probe, `f${i}`), 'wx'));
  return Math.round(((performance.now() - t) * 1000) / 200);
}

/** One short line: "load 7.9, dirty 412 MB, busy 96%, iowait 2%, steal 0%, create 38 µs". */
export function describe(c: Conditions): string {
  const create = c.createUs === undefined ? '' : `, file create ${c.createUs} µs`;
  return `load ${c.load1}, dirty ${c.dirtyMB} MB, busy ${c.busyPct}%, iowait ${c.iowaitPct}%, steal ${c.stealPct}%${create}`;
}
