/**
 * A real PostgreSQL 15 cluster of a test's own: initdb as the `postgres` OS user in a temp folder,
 * on a free port, WAL settings a replication role needs; stopped (immediate) and deleted by
 * `destroy()`. The machine's cluster on 5432 is never touched.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pg from 'pg';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface TestCluster {
  root: string;
  dataDir: string;
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/shop */
  connectionString: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Stops the server (immediate) and deletes its folder. */
  destroy(): Promise<void>;
  stop(): void;
  start(): void;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function asPostgres(cmd: string, args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, cmd), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Creates and starts a cluster with database `shop`. */
export async function createCluster(opts: { conf?: string } = {}): Promise<TestCluster> {
  const root = mkdtempSync(path.join(tmpdir(), 'safetynet-pg-'));
  chmodSync(root, 0o755);
  const dataDir = path.join(root, 'data');
  chownSync(root, uidOf('postgres'), gidOf('postgres'));
  asPostgres('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  appendFileSync(
    path.join(dataDir, 'postgresql.conf'),
    [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${root}'`,
      'wal_level = replica',
      'max_wal_senders = 6',
      'max_replication_slots = 6',
      'fsync = off',
      'synchronous_commit = on',
      'shared_buffers = 32MB',
      opts.conf ?? '',
    ].join('\n') + '\n',
  );
  const ctl = (args: string[]) => asPostgres('pg_ctl', ['-D', dataDir, ...args]);
  const start = () => ctl(['-w', '-t', '60', '-l', path.join(root, 'server.log'), 'start']);
  const stop = () => {
    try {
      ctl(['-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
  };
  start();
  const connectionString = `postgres://postgres@127.0.0.1:${port}/shop`;
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE shop');
  await admin.end();
  return {
    root,
    dataDir,
    port,
    connectionString,
    async query<T>(sql: string, params: unknown[] = []) {
      const c = new pg.Client({ connectionString });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows as T[];
      } finally {
        await c.end();
      }
    },
    stop,
    start,
    async destroy() {
      stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}
function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}

/** The shop schema with random ids and `rows` orders (payments and items alongside). */
export async function createShopSchema(c: TestCluster, rows: number): Promise<void> {
  await c.query(`
    CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id),
      status text NOT NULL, total_cents integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), note text);
    CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders(id), raw jsonb NOT NULL);
    CREATE INDEX orders_created ON orders(created_at);
    CREATE INDEX payments_order ON payments(order_id);
    INSERT INTO customers SELECT g, 'customer' || g || '@example.com' FROM generate_series(1, ${Math.max(1, rows / 10)}) g;
    INSERT INTO orders (id, customer_id, status, total_cents, note)
      SELECT g, 1 + (g % ${Math.max(1, rows / 10)}), 'new', (random() * 100000)::int, md5(random()::text) || md5(g::text)
      FROM generate_series(1, ${rows}) g;
    INSERT INTO payments SELECT g, g, jsonb_build_object('id', 'evt_' || md5(random()::text), 'amount', g * 7)
      FROM generate_series(1, ${rows}) g;
  `);
}

export function writeFile(p: string, s: string): void {
  writeFileSync(p, s);
}
