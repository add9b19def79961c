/**
 * Real PostgreSQL for tests: throw-away databases on the machine's server (127.0.0.1:5432, trust
 * auth), each with a random name, dropped when the test file ends; and, for tests that must stop
 * and restart the server, a cluster of the test's own (initdb as the postgres OS user, a free
 * port, stopped and deleted afterwards).
 */
import pg from 'pg';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';

export const PG_ADMIN_URL = process.env.SAFETYNET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Creates a fresh database and returns its connection string; every one is dropped after the file. */
export async function freshDatabase(): Promise<string> {
  const name = `sn_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  created.push(name);
  const u = new URL(PG_ADMIN_URL);
  u.pathname = '/' + name;
  return u.toString();
}

const created: string[] = [];
afterAll(async () => {
  if (created.length === 0) return;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    for (const name of created.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
});

const BIN = '/usr/lib/postgresql/15/bin';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A PostgreSQL cluster of the test's own, which it may stop and start. */
export class TestCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** initdb + start; stopped and removed after the test file. */
  static async create(): Promise<TestCluster> {
    const base = mkdtempSync(path.join(os.tmpdir(), 'sn-pg-'));
    chmodSync(base, 0o755);
    const dir = path.join(base, 'data');
    mkdirSync(dir, { mode: 0o700 });
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    asPostgres([`${BIN}/initdb`, '-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    const c = new TestCluster(dir, await freePort());
    clusters.push({ c, base });
    c.start();
    return c;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  start(): void {
    asPostgres([
      `${BIN}/pg_ctl`,
      '-D',
      this.dir,
      '-w',
      '-l',
      path.join(this.dir, 'server.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=on`,
      'start',
    ]);
  }

  stop(mode: 'immediate' | 'fast' = 'immediate'): void {
    asPostgres([`${BIN}/pg_ctl`, '-D', this.dir, '-m', mode, '-w', 'stop']);
  }
}

const clusters: { c: TestCluster; base: string }[] = [];
afterAll(() => {
  for (const { c, base } of clusters.splice(0)) {
    try {
      c.stop();
    } catch {
      // already stopped
    }
    rmSync(base, { recursive: true, force: true });
  }
});

function asPostgres(cmd: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr || r.stdout}`);
}
