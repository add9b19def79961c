/**
 * Starts one of the logger's threads (the writer, sqlite-worker.ts; the chain helper,
 * chain-worker.ts). Under a TypeScript runner (tests, benchmarks) the sources are .ts and the
 * thread registers tsx itself; the built package runs the compiled .js directly.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { workerUrl } from '../util/worker-url.js';

export function spawnLogThread(
  name: 'sqlite-worker' | 'chain-worker',
  workerData: unknown,
  transferList: TransferListItem[] = [],
): Worker {
  return new Worker(workerUrl(import.meta.url, name), { workerData, transferList });
}

/**
 * Lowers the calling thread's scheduling priority by `steps` nice levels (Linux: a thread is a
 * task with its own nice value; elsewhere nothing happens). The logger's threads use it so the
 * app's own event loop gets a CPU first: on the 2-core machine, during a 1M-entry burst the main
 * thread waited 1.1 s for a CPU while the writer and the chain helper ran at its priority, 0.4-0.6 s
 * with them at +5 and +15, the entries stored as fast.
 */
export function lowerThreadPriority(steps: number): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    // Relative to the process (the main thread), not to the thread that started this one.
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(process.pid) + steps));
  } catch {
    // not Linux, or not allowed: the thread keeps the process's priority
  }
}
