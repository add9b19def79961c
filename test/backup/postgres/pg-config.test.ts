import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/tmp.js';
import { runCli } from '../../helpers/cli.js';

function expectConfigError(
  database: Record<string, unknown>,
  re: RegExp,
  env: NodeJS.ProcessEnv = {},
): ConfigError {
  try {
    resolveConfig({ database }, { file: null, baseDir: '/x', env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(re);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError matching ${re}`);
}

const pg = { type: 'postgres', connectionString: 'postgres://safetynet@127.0.0.1:5432/shop' };

describe('database config for PostgreSQL', () => {
  it('resolves defaults: slot, OS user, upload and heartbeat intervals', () => {
    const c = resolveConfig({ database: pg }, { file: null, baseDir: '/x', env: {} });
    expect(c.database.postgres).toEqual({
      connectionString: pg.connectionString,
      slot: 'safetynet',
      osUser: 'postgres',
      tables: [],
      walUploadSeconds: 5,
      heartbeatSeconds: 15,
      heartbeatTable: 'safetynet_heartbeat',
    });
    // The standard PG* variables stand in for a connection string.
    const e = resolveConfig(
      { database: { type: 'postgres' } },
      { file: null, baseDir: '/x', env: { PGHOST: 'db' } },
    );
    expect(e.database.postgres!.connectionString).toBeUndefined();
  });

  it('accepts libpq socket forms (an empty host after the user name, a host folder)', () => {
    for (const connectionString of [
      'postgres://safetynet@/shop?host=/var/run/postgresql',
      'postgresql:///shop?host=/var/run/postgresql&port=5433',
      'host=/var/run/postgresql dbname=shop user=safetynet',
    ]) {
      const c = resolveConfig(
        { database: { ...pg, connectionString } },
        { file: null, baseDir: '/x', env: {} },
      );
      expect(c.database.postgres!.connectionString).toBe(connectionString);
    }
    const logs = resolveConfig(
      {
        logs: { store: { type: 'postgres', connectionString: 'postgres://app@/shop?host=/run/postgresql' } },
      },
      { file: null, baseDir: '/x', env: {} },
    );
    expect(logs.logs.store).toMatchObject({ type: 'postgres' });
  });

  it('names every wrong field (exit 2)', () => {
    expectConfigError({ type: 'postgres' }, /database\.connectionString is required/);
    expectConfigError(
      { ...pg, connectionString: 'mysql://x' },
      /database\.connectionString: "mysql:\/\/x" is not a connection string/,
    );
    expectConfigError(
      { ...pg, replicationConnectionString: 'postgres://u:secret@[bad/db' },
      /database\.replicationConnectionString: "postgres:\/\/u:\*\*\*@\[bad\/db" is not/,
    );
    expectConfigError(
      { ...pg, slot: 'Bad-Slot' },
      /database\.slot: "Bad-Slot" is not a valid replication slot name/,
    );
    expectConfigError({ ...pg, osUser: 'ro ot' }, /database\.osUser/);
    expectConfigError(
      { ...pg, tables: ['orders', 'DROP TABLE x'] },
      /database\.tables\[1\]: "DROP TABLE x" is not a table name/,
    );
    expectConfigError({ ...pg, walUploadSeconds: 0 }, /database\.walUploadSeconds: 0 is out of range/);
    expectConfigError(
      { ...pg, heartbeatSeconds: 99999 },
      /database\.heartbeatSeconds: 99999 is out of range/,
    );
    expectConfigError({ ...pg, heartbeatTable: 'a;b' }, /database\.heartbeatTable/);
    expectConfigError(
      { ...pg, binDir: '/nonexistent' },
      /database\.binDir: \/nonexistent holds no pg_receivewal/,
    );
    expectConfigError(
      { type: 'sqlite', slot: 'x' },
      /database\.slot is only used when database\.type is "postgres"/,
    );
  });

  it('the CLI exits 2 on a bad value, naming the field', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'safetynet.config.json');
    writeFileSync(file, JSON.stringify({ database: { ...pg, slot: 'no way' } }));
    const r = await runCli(['--config', file, 'backup', 'db']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/database\.slot: "no way"/);
  });
});
