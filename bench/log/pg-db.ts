/** A throw-away database for the PostgreSQL log benchmarks (SAFETYNET_BENCH_PG names the server). */
import pg from 'pg';
import { randomBytes } from 'node:crypto';

const ADMIN = process.env.SAFETYNET_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function freshBenchDatabase(): Promise<string> {
  const name = `sn_bench_${randomBytes(5).toString('hex')}`;
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(ADMIN);
  u.pathname = '/' + name;
  return u.toString();
}

export async function dropBenchDatabase(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
  await c.end();
}
