/**
 * The `database` section: which shop database is backed up and, for PostgreSQL, how safetynet
 * reaches it. Every wrong value is a ConfigError (exit 2) naming the field; PostgreSQL-only fields
 * on a SQLite config are refused rather than silently ignored.
 */
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { DatabaseConfig, PostgresSourceConfig } from './types.js';

/** The database section as the schema lets it through. */
export interface RawDatabaseConfig {
  type: 'sqlite' | 'postgres';
  path: string;
  connectionString?: string;
  replicationConnectionString?: string;
  slot?: string;
  osUser?: string;
  tables?: string[];
  walUploadSeconds?: number;
  heartbeatSeconds?: number;
  heartbeatTable?: string;
  binDir?: string;
}

/** The JSON schema of the section (ajv fills `type` and `path`; PostgreSQL defaults are applied below). */
export const databaseSchema = {
  type: 'object',
  default: {},
  additionalProperties: false,
  properties: {
    type: { enum: ['sqlite', 'postgres'], default: 'sqlite' },
    path: { type: 'string', minLength: 1, default: 'data/shop.sqlite' },
    connectionString: { type: 'string', minLength: 1 },
    replicationConnectionString: { type: 'string', minLength: 1 },
    slot: { type: 'string' },
    osUser: { type: 'string' },
    tables: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    walUploadSeconds: { type: 'number' },
    heartbeatSeconds: { type: 'number' },
    heartbeatTable: { type: 'string' },
    binDir: { type: 'string', minLength: 1 },
  },
} as const;

const PG_ONLY = [
  'connectionString',
  'replicationConnectionString',
  'slot',
  'osUser',
  'tables',
  'walUploadSeconds',
  'heartbeatSeconds',
  'heartbeatTable',
  'binDir',
] as const;

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
const TABLE = /^(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/;

/** Resolves and checks the database section. */
export function resolveDatabase(
  d: RawDatabaseConfig,
  ctx: { baseDir: string; where: string; env: NodeJS.ProcessEnv },
): DatabaseConfig {
  const { where } = ctx;
  const abs = (p: string) => path.resolve(ctx.baseDir, p);
  if (d.type === 'sqlite') {
    for (const f of PG_ONLY) {
      if (d[f] !== undefined) {
        throw new ConfigError(
          'E_CONFIG_VALUE',
          `database.${f} is only used when database.type is "postgres"${where}`,
          { hint: `remove database.${f}, or set database.type to "postgres"` },
        );
      }
    }
    return { type: 'sqlite', path: abs(d.path) };
  }
  const fromEnv = Boolean(ctx.env.PGHOST || ctx.env.PGDATABASE || ctx.env.PGSERVICE);
  if (!d.connectionString && !fromEnv) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `database.connectionString is required when database.type is "postgres"${where}`,
      {
        hint: 'set database.connectionString, e.g. "postgres://safetynet@127.0.0.1:5432/shop", or the standard PGHOST/PGDATABASE/PGUSER variables',
      },
    );
  }
  for (const f of ['connectionString', 'replicationConnectionString'] as const) {
    const v = d[f];
    if (v !== undefined && !isConnectionString(v)) {
      throw new ConfigError(
        'E_CONFIG_VALUE',
        `database.${f}: "${redact(v)}" is not a connection string${where}`,
        {
          hint: 'use a URI such as "postgres://user@host:5432/shop" or key=value pairs such as "host=127.0.0.1 dbname=shop"',
        },
      );
    }
  }
  const slot = d.slot ?? 'safetynet';
  if (!IDENT.test(slot)) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `database.slot: "${slot}" is not a valid replication slot name${where}`,
      {
        hint: 'use 1-63 lower-case letters, digits and underscores, e.g. "safetynet"',
      },
    );
  }
  const osUser = d.osUser ?? 'postgres';
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(osUser)) {
    throw new ConfigError('E_CONFIG_VALUE', `database.osUser: "${osUser}" is not a user name${where}`, {
      hint: 'name the operating-system user that runs PostgreSQL servers, usually "postgres"',
    });
  }
  const tables = d.tables ?? [];
  for (const [i, t] of tables.entries()) {
    if (!TABLE.test(t)) {
      throw new ConfigError('E_CONFIG_VALUE', `database.tables[${i}]: "${t}" is not a table name${where}`, {
        hint: 'use lower-case table names, optionally with a schema: "orders", "shop.payments"',
      });
    }
  }
  const walUploadSeconds = d.walUploadSeconds ?? 5;
  if (!Number.isFinite(walUploadSeconds) || walUploadSeconds < 1 || walUploadSeconds > 300) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `database.walUploadSeconds: ${walUploadSeconds} is out of range${where}`,
      { hint: "give 1 to 300 seconds: how often the open WAL segment's new bytes are uploaded (the RPO)" },
    );
  }
  const heartbeatSeconds = d.heartbeatSeconds ?? 15;
  if (
    !Number.isFinite(heartbeatSeconds) ||
    (heartbeatSeconds !== 0 && (heartbeatSeconds < 1 || heartbeatSeconds > 3600))
  ) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `database.heartbeatSeconds: ${heartbeatSeconds} is out of range${where}`,
      { hint: 'give 1 to 3600 seconds, or 0 to write no heartbeat row (an idle server then writes no WAL)' },
    );
  }
  const heartbeatTable = d.heartbeatTable ?? 'safetynet_heartbeat';
  if (!TABLE.test(heartbeatTable)) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `database.heartbeatTable: "${heartbeatTable}" is not a table name${where}`,
      {
        hint: 'use a lower-case table name such as "safetynet_heartbeat"',
      },
    );
  }
  let binDir: string | undefined;
  if (d.binDir !== undefined) {
    binDir = abs(d.binDir);
    if (!existsSync(path.join(binDir, 'pg_receivewal'))) {
      throw new ConfigError('E_CONFIG_PATH', `database.binDir: ${binDir} holds no pg_receivewal${where}`, {
        hint: 'point database.binDir at the PostgreSQL client programs, e.g. /usr/lib/postgresql/15/bin, or remove it to search PATH',
      });
    }
  }
  const postgres: PostgresSourceConfig = {
    ...(d.connectionString ? { connectionString: d.connectionString } : {}),
    ...(d.replicationConnectionString ? { replicationConnectionString: d.replicationConnectionString } : {}),
    slot,
    osUser,
    tables,
    walUploadSeconds,
    heartbeatSeconds,
    heartbeatTable,
    ...(binDir ? { binDir } : {}),
  };
  return {
    type: 'postgres',
    path: abs(d.path),
    ...(d.connectionString ? { connectionString: d.connectionString } : {}),
    postgres,
  };
}

function isConnectionString(v: string): boolean {
  if (/^postgres(?:ql)?:\/\//.test(v)) return connectionUrl(v) !== undefined;
  return /^\s*[a-z_]+\s*=\s*\S/.test(v);
}

/**
 * A postgres:// connection string as a URL and the host it names ("" for none), or undefined if it
 * is not one. libpq's socket form "postgres://user@/shop?host=/var/run/postgresql" has an empty
 * host after a user name, which WHATWG URLs refuse: it is parsed with a stand-in host.
 */
export function connectionUrl(v: string): { url: URL; hostname: string } | undefined {
  const m = /^(postgres(?:ql)?:\/\/[^/?#@]*@)(?=[/?#]|$)/.exec(v);
  try {
    if (!m) {
      const url = new URL(v);
      return { url, hostname: url.hostname };
    }
    return { url: new URL(`${m[1]}localhost${v.slice(m[1]!.length)}`), hostname: '' };
  } catch {
    return undefined;
  }
}

/** A connection string with its password hidden, for messages. */
export function redact(v: string): string {
  return v.replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@').replace(/(password\s*=\s*)\S+/i, '$1***');
}
