/**
 * Where an append's CPU goes in the PostgreSQL store, measured per entry for the client (this
 * process: redaction is not involved, rows are prepared as the writer thread gets them) and the
 * server (the store's backend processes, read from /proc: the server must run on this machine).
 * Load-robust: CPU time, not wall time. `--sql "…"` runs an experiment on the schema first (e.g.
 * dropping an index) to measure what one step costs.
 *
 *   npx tsx bench/log/pg-cpu.ts [--count 200000] [--batch 8192] [--sql "DROP INDEX safetynet_log.logs_tsv"]
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
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
const COUNT = arg('count', 200_000);
const BATCH = arg('batch', 8192);
const TICK = 100; // clock ticks per second (Linux default)

function procCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(parts[11]) + Number(parts[12])) * 1000) / TICK;
  } catch {
    return 0;
  }
}

async function backends(url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'safetynet-log'`,
  );
  await c.end();
  return r.rows.map((x) => x.pid);
}

async function main(): Promise<void> {
  console.log(
    `append CPU per entry, ${COUNT} entries in batches of ${BATCH}; load ${machineInfo().loadavg.join(' ')}`,
  );
  const url = await freshBenchDatabase();
  try {
    const store = new PostgresLogStore({ connectionString: url, poolSize: 1 });
    const next = entryStream(11);
    const rows: AppendRow[] = Array.from({ length: COUNT }, (_, i) => {
      const e = next();
      return {
        ts: Date.now() - COUNT + i,
        level: e.level,
        category: e.category,
        message: e.message,
        details: JSON.stringify(e.details ?? {}),
        orderId: e.orderId ?? null,
        errorStack: e.stack ?? null,
      };
    });
    await store.append(rows.slice(0, 10)); // connect, migrate, partitions
    const sqlArg = args.indexOf('--sql');
    if (sqlArg >= 0) {
      // An experiment on the schema (e.g. dropping an index) before the measured appends.
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(args[sqlArg + 1]!);
      await c.end();
    }
    const pids = await backends(url);
    const s0 = pids.reduce((a, p) => a + procCpuMs(p), 0);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 10; i < COUNT; i += BATCH) await store.append(rows.slice(i, Math.min(COUNT, i + BATCH)));
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const s = pids.reduce((a, p) => a + procCpuMs(p), 0) - s0;
    const n = COUNT - 10;
    console.log(
      `  wall ${(wall / 1000).toFixed(2)} s (${Math.round((n / wall) * 1000)}/s); client ${((c.user + c.system) / n).toFixed(2)} µs/entry; server backend ${((s * 1000) / n).toFixed(2)} µs/entry`,
    );
    await store.close();
  } finally {
    await dropBenchDatabase(url);
  }
}

await main();
