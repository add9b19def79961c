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

/**
 * A named database kept between runs (for a fixture built once): `fresh` is true when it was
 * just created (the caller builds it). A name must be a plain identifier.
 */
export async function benchDatabase(name: string): Promise<{ url: string; fresh: boolean }> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`--db: "${name}" is not a plain database name`);
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  const u = new URL(ADMIN);
  u.pathname = '/' + name;
  const url = u.toString();
  const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  let complete = false;
  if (r.rowCount) {
    const d = new pg.Client({ connectionString: url });
    await d.connect();
    complete = Boolean((await d.query(`SELECT to_regclass('public.fixture_complete') AS t`)).rows[0].t);
    await d.end();
    // A build cut short is thrown away and done again.
    if (!complete) await c.query(`DROP DATABASE ${name} WITH (FORCE)`);
  }
  if (!complete) await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return { url, fresh: !complete };
}

/** Marks a kept fixture database as completely built. */
export async function markBenchDatabaseComplete(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('CREATE TABLE IF NOT EXISTS public.fixture_complete ()');
  await c.end();
}
