/**
 * One process of the PostgreSQL ingest benchmark (bench/log/pg-ingest.ts): logs `count` entries
 * (seeded) through the public logger into the PostgreSQL store, or through pino into its own
 * file, un-awaited, yielding every 1,000 calls; then waits until everything is durable (ours) or
 * flushed (pino), and prints one JSON line: wall ms, event-loop busy ms, calls, CPU ms of the
 * process (all its threads, the logger's writer thread included; from the start signal).
 *
 *   node --import tsx pg-ingest-child.ts <ours|pino> <connectionString|file> <spoolDir> <count> <seed>
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createLogger } from '../../src/log/index.js';
import { entryStream } from './entries.js';

const [side, target, spoolDir, countArg, seedArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const count = Number(countArg);
const next = entryStream(Number(seedArg));
const entries = Array.from({ length: count }, () => next());
const yieldNow = () => new Promise<void>((r) => setImmediate(r));

// Start together: the parent sends a line on stdin when every process is ready.
process.stdout.write('ready\n');
await new Promise<void>((r) => process.stdin.once('data', () => r()));

const cpu0 = process.cpuUsage();
if (side === 'ours') {
  const log = await createLogger({
    storePath: '',
    store: { type: 'postgres', path: '', connectionString: target },
    spoolDir,
    // A durable-ingest benchmark must not drop: the queue may hold the whole burst (pino, on the
    // other side, buffers without bound too). Its memory is what the run costs.
    maxQueueEntries: count + 1,
    maxQueueBytes: 4 * 1024 ** 3,
    writeTimeoutMs: 600_000,
  });
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let i = 0; i < entries.length; i += 1000) {
    const end = Math.min(entries.length, i + 1000);
    for (let j = i; j < end; j++) {
      const e = entries[j]!;
      void log.category(e.category)[e.level](e.message, { orderId: e.orderId, details: e.details });
    }
    await yieldNow();
  }
  await log.flush();
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  await log.close();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({ ms, loopMs: elu.active, calls: count, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n',
  );
} else {
  const dest = pino.destination({ dest: target, minLength: 4096, sync: false });
  await new Promise<void>((r) => dest.once('ready', () => r()));
  const logger = pino({}, dest);
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let i = 0; i < entries.length; i += 1000) {
    const end = Math.min(entries.length, i + 1000);
    for (let j = i; j < end; j++) {
      const e = entries[j]!;
      const method = e.level === 'critical' ? 'fatal' : e.level;
      logger[method]({ category: e.category, orderId: e.orderId, details: e.details }, e.message);
    }
    await yieldNow();
  }
  await new Promise<void>((resolve) => dest.flush(() => resolve()));
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  dest.end();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    JSON.stringify({ ms, loopMs: elu.active, calls: count, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n',
  );
}
