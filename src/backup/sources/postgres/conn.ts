/**
 * Connections to the shop's PostgreSQL: a `pg` client for SQL (counts, settings, heartbeat) and
 * base backups (a replication connection), and the connection string handed to pg_receivewal. Without a connection string the
 * standard PG* variables apply (libpq and `pg` both read them).
 */
import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { SafetynetError } from '../../../errors.js';
import type { PostgresSourceConfig } from '../../../config/types.js';

/** A `pg` client config for a libpq connection string (URI or key=value), with overrides. */
export function clientConfig(
  connectionString: string | undefined,
  overrides: pg.ClientConfig = {},
): pg.ClientConfig {
  let base: pg.ClientConfig = {};
  if (connectionString) {
    base = /^postgres(?:ql)?:\/\//.test(connectionString)
      ? (parseIntoClientConfig(connectionString) as pg.ClientConfig)
      : keyValueConfig(connectionString);
  }
  return { ...base, connectionTimeoutMillis: 10_000, ...overrides };
}

function keyValueConfig(s: string): pg.ClientConfig {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/g)) out[m[1]!] = m[2] ?? m[3]!;
  return {
    ...(out.host ? { host: out.host } : {}),
    ...(out.port ? { port: Number(out.port) } : {}),
    ...(out.user ? { user: out.user } : {}),
    ...(out.password ? { password: out.password } : {}),
    ...(out.dbname ? { database: out.dbname } : {}),
  };
}

/** Opens a client to the shop database (or `overrides`' server); E_PG_CONNECT when it cannot. */
export async function connect(
  pgc: PostgresSourceConfig,
  overrides: pg.ClientConfig = {},
): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(pgc.connectionString, overrides));
  client.on('error', () => {}); // a dropped connection surfaces on the next query
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new SafetynetError('E_PG_CONNECT', `cannot connect to PostgreSQL: ${(err as Error).message}`, {
      hint: 'check database.connectionString (or the PG* variables) and that the server is running',
      cause: err,
    });
  }
  return client;
}

/** Runs `fn` with a client, closing it afterwards. */
export async function withClient<T>(
  pgc: PostgresSourceConfig,
  fn: (c: pg.Client) => Promise<T>,
  overrides: pg.ClientConfig = {},
): Promise<T> {
  const c = await connect(pgc, overrides);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** The replication connection string: its own if configured, else the shop's (or none: PG*). */
export function replicationConnection(pgc: PostgresSourceConfig): string | undefined {
  return pgc.replicationConnectionString ?? pgc.connectionString;
}

/** The `-d` argument for replication tools (the replication connection if configured). */
export function replicationArgs(pgc: PostgresSourceConfig): string[] {
  const cs = replicationConnection(pgc);
  return cs ? ['-d', cs, '--no-password'] : ['--no-password'];
}

/** Quotes a possibly schema-qualified identifier. */
export function quoteTable(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}
