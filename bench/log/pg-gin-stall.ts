/**
 * Does the GIN index's pending list (fastupdate, PostgreSQL's default) make some appends stall
 * when an insert has to flush it? A writer appends 200 entries every 10 ms for --seconds into a
 * fresh store, once with the default and once with fastupdate off on the partition's GIN index,
 * alternating; reports the append latency p50/p99/max and the server CPU per entry of each.
 *
 *   npx tsx bench/log/pg-gin-stall.ts [--seconds 30]
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import { machineInfo } from '../lib/report.js';
import { entryStream } from './entries.js';
import { dropBenchDatabase, freshBenchDatabase } from './pg-db.js';

const args = process.argv.slice(2);
const SECONDS = args.includes('--seconds') ? Number(args[args.indexOf('--seconds') + 1]) : 30;

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) * 10;
}

async function run(fastupdate: boolean, limit?: string): Promise<void> {
  const url = await freshBenchDatabase();
  try {
    if (limit) {
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(
        `ALTER DATABASE ${new URL(url).pathname.slice(1)} SET gin_pending_list_limit = '${limit}'`,
      );
      await a.end();
    }
    const store = new PostgresLogStore({ connectionString: url, poolSize: 1 });
    const next = entryStream(3);
    const row = () => {
      const e = next();
      return {
        ts: Date.now(),
        level: e.level,
        category: e.category,
        message: e.message,
        details: JSON.stringify(e.details ?? {}),
        orderId: e.orderId ?? null,
        errorStack: e.stack ?? null,
      };
    };
    await store.append([row()]);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    if (!fastupdate) {
      const idx = await c.query<{ name: string }>(
        `SELECT i.indexrelid::regclass::text AS name FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid)
         WHERE a.amname = 'gin' AND t.relkind = 'r' AND t.relnamespace = 'safetynet_log'::regnamespace`,
      );
      for (const { name } of idx.rows) await c.query(`ALTER INDEX ${name} SET (fastupdate = off)`);
    }
    const pid = (
      await c.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'safetynet-log'`,
      )
    ).rows[0]!.pid;
    await c.end();
    const lat: number[] = [];
    const s0 = cpuMs(pid);
    const end = performance.now() + SECONDS * 1000;
    while (performance.now() < end) {
      const rows = Array.from({ length: 200 }, row);
      const t0 = performance.now();
      await store.append(rows);
      lat.push(performance.now() - t0);
      await sleep(10);
    }
    const server = cpuMs(pid) - s0;
    await store.close();
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    console.log(
      `  fastupdate ${fastupdate ? 'on ' : 'off'}${limit ? `, pending list ${limit}` : ''}: ${lat.length} appends of 200; latency p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${lat.at(-1)!.toFixed(1)} ms; server ${((server * 1000) / (lat.length * 200)).toFixed(1)} µs/entry; load ${machineInfo().loadavg.join(' ')}`,
    );
  } finally {
    await dropBenchDatabase(url);
  }
}

console.log(`GIN pending list and append stalls, ${SECONDS} s per run`);
const mode = args.includes('--limit') ? args[args.indexOf('--limit') + 1] : undefined;
if (mode)
  for (let i = 0; i < 2; i++) {
    await run(true);
    await run(true, mode);
  }
else for (const f of [true, false, true, false]) await run(f);
