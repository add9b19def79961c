/**
 * The shop process of the retention benchmark: logs continuously through the public API (one
 * awaited entry, then a few un-awaited, in a loop) and measures how long each awaited entry takes
 * to become durable. On each "report" line on stdin it prints the stats of the window since the
 * previous report as JSON and starts a new window.
 *
 *   node --import tsx bench/log/prune-writer.ts <store> <spool>
 *
 * `<store>` is a SQLite file, or a postgres:// connection string for the PostgreSQL store.
 */
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/log/index.js';

const [storePath, spoolDir] = process.argv.slice(2) as [string, string];
// A long busy timeout: the benchmark measures how long a writer waits, not how soon it spools.
const log = /^postgres(ql)?:\/\//.test(storePath)
  ? await createLogger({
      storePath: '',
      store: { type: 'postgres', path: '', connectionString: storePath },
      spoolDir,
      busyTimeoutMs: 120_000,
    })
  : await createLogger({ storePath, spoolDir, busyTimeoutMs: 120_000 });

let lat: number[] = [];
let written = 0;
let stop = false;
let windowStart = performance.now();

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'report') {
    const sorted = [...lat].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    process.stdout.write(
      JSON.stringify({
        seconds: (performance.now() - windowStart) / 1000,
        awaited: sorted.length,
        written,
        p50: q(0.5),
        p99: q(0.99),
        max: sorted.at(-1) ?? 0,
      }) + '\n',
    );
    lat = [];
    written = 0;
    windowStart = performance.now();
  } else if (line === 'stop') {
    stop = true;
  }
});

process.stdout.write('ready\n');
let i = 0;
while (!stop) {
  for (let j = 0; j < 4; j++)
    void log.inventory.info(`stock moved ${i}-${j}`, { details: { sku: `SKU-${i % 5000}` } });
  const t0 = performance.now();
  await log.order.info(`order ${i} placed`, { orderId: 100_000 + i });
  lat.push(performance.now() - t0);
  written += 5;
  i++;
}
await log.close();
process.exit(0);
