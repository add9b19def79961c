/**
 * What the machine was doing during a timed step, so a benchmark can say why two runs differ:
 * the 1-minute load average when the step began, dirty page-cache bytes waiting for writeback
 * (another engineer's gigabyte, or the previous step's), and over the step itself the share of
 * CPU time that was busy, waiting for the disk (iowait) or taken by the hypervisor (steal).
 */
import { readFileSync } from 'node:fs';
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
  /** CPU time (user + system, all threads) of this process during the step, when measured. */
  cpuMs?: number;
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

/** One short line: "load 7.9, dirty 412 MB, busy 96%, iowait 2%, steal 0%". */
export function describe(c: Conditions): string {
  return `load ${c.load1}, dirty ${c.dirtyMB} MB, busy ${c.busyPct}%, iowait ${c.iowaitPct}%, steal ${c.stealPct}%`;
}
