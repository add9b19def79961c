/**
 * Finds, parses, validates and resolves the configuration.
 *
 * Where it comes from, first match wins: the `--config PATH` flag, the `SAFETYNET_CONFIG`
 * environment variable, `safetynet.config.json` in the working directory. With none, the embedded
 * defaults apply (SQLite files and a local backup folder under `data/`). Relative paths resolve
 * against the config file's folder (or the working directory when there is no file).
 */
import { isIP } from 'node:net';
import { readFileSync, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { ErrorObject } from 'ajv';
import { Cron } from 'croner';
import { ConfigError } from '../errors.js';
import { parseDurationMs } from '../util/time.js';
import { BUILTIN_CATEGORIES, DEFAULT_LOG_RETENTION_DAYS, MIN_LOG_RETENTION_DAYS } from './schema.js';
import type { FileSetConfig, SafetynetConfig } from './types.js';
import { connectionUrl, resolveDatabase, type RawDatabaseConfig } from './database.js';
import { configValidator } from './schema-validator.js';

export const CONFIG_FILE_NAME = 'safetynet.config.json';

export interface LoadConfigOptions {
  /** Explicit path (the `--config` flag). */
  configPath?: string;
  /** Working directory; defaults to process.cwd(). */
  cwd?: string;
  /** Environment; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Locates the config file to read, or null for embedded defaults. */
export function findConfigFile(opts: LoadConfigOptions = {}): string | null {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  if (opts.configPath) return path.resolve(cwd, opts.configPath);
  if (env.SAFETYNET_CONFIG) return path.resolve(cwd, env.SAFETYNET_CONFIG);
  const local = path.join(cwd, CONFIG_FILE_NAME);
  return existsSync(local) ? local : null;
}

/** Loads the configuration; throws ConfigError naming the field, the value and what is allowed. */
export function loadConfig(opts: LoadConfigOptions = {}): SafetynetConfig {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const file = findConfigFile(opts);
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
      throw new ConfigError('E_CONFIG_READ', `config file ${file} ${why}`, {
        hint: opts.configPath
          ? 'check the --config path'
          : env.SAFETYNET_CONFIG
            ? 'check the SAFETYNET_CONFIG environment variable'
            : `create ${CONFIG_FILE_NAME} or remove it to use the embedded defaults`,
        cause: err,
      });
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(
        'E_CONFIG_JSON',
        `config file ${file} is not valid JSON: ${(err as Error).message}`,
        {
          hint: 'fix the JSON syntax (a trailing comma or a missing quote is the usual cause)',
        },
      );
    }
  }
  return resolveConfig(raw, { file, baseDir: file ? path.dirname(file) : cwd, env });
}

/** Validates an already-parsed config object and resolves it (exported for tests and tools). */
export function resolveConfig(
  raw: unknown,
  ctx: { file: string | null; baseDir: string; env?: NodeJS.ProcessEnv },
): SafetynetConfig {
  const env = ctx.env ?? process.env;
  const data = structuredClone(raw ?? {}) as Record<string, unknown>;
  const validateSchema = configValidator();
  if (!validateSchema(data)) {
    throw schemaError(validateSchema.errors ?? [], data, ctx.file);
  }
  // After validation with useDefaults, the shape is known.
  const c = data as unknown as RawConfig;
  const abs = (p: string) => path.resolve(ctx.baseDir, p);
  const where = ctx.file ? ` in ${ctx.file}` : '';
  const warnings: string[] = [];

  // logs
  const categories = [...BUILTIN_CATEGORIES, ...c.logs.categories.filter((x) => !isBuiltin(x))];
  const retention: Record<string, number> = { ...DEFAULT_LOG_RETENTION_DAYS };
  for (const [cat, days] of Object.entries(c.logs.retention)) {
    if (cat !== 'default' && !categories.includes(cat)) {
      throw new ConfigError('E_CONFIG_VALUE', `logs.retention.${cat}: unknown category "${cat}"${where}`, {
        hint: `use "default" or one of: ${categories.join(', ')} (declare custom ones in logs.categories)`,
      });
    }
    const floor = MIN_LOG_RETENTION_DAYS[cat] ?? MIN_LOG_RETENTION_DAYS.default!;
    if (days < floor) {
      throw new ConfigError(
        'E_CONFIG_RETENTION_FLOOR',
        `logs.retention.${cat}: ${days} days is below the required minimum of ${floor} days${where}`,
        {
          hint: `set logs.retention.${cat} to ${floor} or more (the spec keeps logs at least 90 days, payments and orders 1 year)`,
        },
      );
    }
    retention[cat] = days;
  }
  if (c.logs.store.type === 'postgres') checkLogStoreConnection(c.logs.store.connectionString, env, where);
  const database = resolveDatabase(c.database, { baseDir: ctx.baseDir, where, env });

  // backup
  const b = c.backup;
  const timezone = b.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `backup.timezone: "${timezone}" is not a known time zone${where}`,
      {
        hint: 'use an IANA time zone name such as "Europe/Berlin", "America/New_York" or "UTC"',
      },
    );
  }
  for (const [job, expr] of Object.entries(b.schedule)) {
    try {
      new Cron(expr, { paused: true, timezone });
    } catch (err) {
      throw new ConfigError(
        'E_CONFIG_CRON',
        `backup.schedule.${job}: "${expr}" is not a valid cron expression${where}`,
        {
          hint: `use five fields "minute hour day-of-month month day-of-week", e.g. "0 3 * * *" (${(err as Error).message})`,
        },
      );
    }
  }
  const objectives = { rpoMs: 0, rtoMs: 0 };
  for (const key of ['rpo', 'rto'] as const) {
    const ms = parseDurationMs(b.objectives[key]);
    if (ms === undefined || ms <= 0) {
      throw new ConfigError(
        'E_CONFIG_VALUE',
        `backup.objectives.${key}: "${b.objectives[key]}" is not a duration${where}`,
        {
          hint: 'use a number and a unit: 30m, 1h, 4h, 1d',
        },
      );
    }
    objectives[`${key}Ms`] = ms;
  }
  const repository = normaliseRepository(b.repository, ctx.baseDir, where);

  const configFileSet = ctx.file ? [path.basename(ctx.file)] : [];
  const defaultSets: FileSetConfig[] = [
    { name: 'invoices', path: abs('data/invoices'), include: [], exclude: [], isDefault: true },
    { name: 'images', path: abs('data/images'), include: [], exclude: [], isDefault: true },
    {
      name: 'config',
      path: ctx.baseDir,
      include: [...configFileSet, 'config/**'],
      exclude: [],
      isDefault: true,
    },
  ];
  const files: FileSetConfig[] = b.files
    ? b.files.map((f) => ({
        name: f.name,
        path: abs(f.path),
        include: f.include ?? [],
        exclude: f.exclude ?? [],
        isDefault: false,
      }))
    : defaultSets;
  const seen = new Set<string>();
  for (const [i, f] of files.entries()) {
    if (seen.has(f.name)) {
      throw new ConfigError('E_CONFIG_VALUE', `backup.files[${i}].name: "${f.name}" is used twice${where}`, {
        hint: 'give every file set its own name',
      });
    }
    seen.add(f.name);
    if (!existsSync(f.path)) {
      if (f.isDefault) {
        if (f.name !== 'config')
          warnings.push(`file set "${f.name}": ${f.path} does not exist; it is skipped`);
      } else {
        // A warning, not an error: after a disk loss this is exactly the folder `restore files` must
        // bring back, so refusing the config here would block the restore. A backup of this set
        // reports it as a problem (the point is marked incomplete, exit 1).
        warnings.push(
          `backup.files[${i}].path: ${f.path} does not exist: backups of file set "${f.name}" fail until it does (restore it with \`safetynet restore files\`, create the folder or fix the path)`,
        );
      }
    } else if (!f.isDefault && !statSync(f.path).isDirectory() && !statSync(f.path).isFile()) {
      throw new ConfigError(
        'E_CONFIG_PATH',
        `backup.files[${i}].path: ${f.path} is not a folder or a file${where}`,
        {
          hint: `point backup.files[${i}].path at a folder`,
        },
      );
    }
  }

  // admin
  let port = c.admin.port;
  if (env.PORT !== undefined && env.PORT !== '') {
    const p = Number(env.PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535) {
      throw new ConfigError('E_CONFIG_VALUE', `PORT: "${env.PORT}" is not a port number`, {
        hint: 'set the PORT environment variable to an integer from 0 to 65535, or unset it',
      });
    }
    port = p;
  }

  checkTrustProxy(c.admin.trustProxy);
  if (b.identity) {
    const w = identityModeWarning(abs(b.identity));
    if (w) warnings.push(w);
  }

  return {
    configFile: ctx.file,
    baseDir: ctx.baseDir,
    logs: {
      store: {
        type: c.logs.store.type,
        path: abs(c.logs.store.path),
        ...(c.logs.store.connectionString ? { connectionString: c.logs.store.connectionString } : {}),
      },
      spool: abs(c.logs.spool),
      retention,
      categories,
      redactKeys: c.logs.redact.keys,
      stdout: c.logs.stdout,
      maxDetailsBytes: c.logs.maxDetailsBytes,
    },
    database,
    backup: {
      repository,
      stateDir: abs(b.stateDir),
      s3: b.s3,
      recipients: b.recipients,
      ...(b.identity ? { identity: abs(b.identity) } : {}),
      timezone,
      retention: b.retention,
      readVerifySlices: b.readVerifySlices,
      schedule: b.schedule,
      objectives,
      files,
    },
    admin: { ...c.admin, port, users: abs(c.admin.users) },
    warnings,
  };
}

function isBuiltin(cat: string): boolean {
  return (BUILTIN_CATEGORIES as readonly string[]).includes(cat);
}

/** Turns a folder path, `file://` URL or `s3://bucket/prefix` into a canonical repository URL. */
function normaliseRepository(value: string, baseDir: string, where: string): string {
  if (value.startsWith('s3://')) {
    const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(value);
    const bucket = m?.[1] ?? '';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ConfigError(
        'E_CONFIG_VALUE',
        `backup.repository: "${bucket}" is not a valid bucket name${where}`,
        {
          hint: 'use s3://bucket/prefix with a bucket name of 3-63 lower-case letters, digits, dots and hyphens',
        },
      );
    }
    const prefix = (m?.[2] ?? '').replace(/^\/+|\/+$/g, '');
    return `s3://${bucket}${prefix ? '/' + prefix : ''}`;
  }
  if (value.startsWith('file://')) {
    return 'file://' + path.resolve(baseDir, decodeURIComponent(value.slice('file://'.length)));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `backup.repository: "${value}" uses an unsupported scheme${where}`,
      {
        hint: 'use a folder path, file:///path or s3://bucket/prefix',
      },
    );
  }
  return 'file://' + path.resolve(baseDir, value);
}

/** Converts Ajv's errors into one ConfigError naming the field, the value and what is allowed. */
function schemaError(errors: ErrorObject[], data: unknown, file: string | null): ConfigError {
  const lines = errors.slice(0, 5).map((e) => describeSchemaError(e, data));
  const first = lines[0] ?? 'invalid configuration';
  const more = lines.length > 1 ? ` (and: ${lines.slice(1).join('; ')})` : '';
  return new ConfigError('E_CONFIG_VALUE', `${first}${file ? ` in ${file}` : ''}${more}`, {
    hint: 'fix the field named above; the README lists every config field and its allowed values',
    details: { errors: errors.map((e) => ({ path: e.instancePath, message: e.message, params: e.params })) },
  });
}

function describeSchemaError(e: ErrorObject, data: unknown): string {
  const field = e.instancePath.split('/').filter(Boolean).join('.') || '(top level)';
  const value = valueAt(data, e.instancePath);
  const shown = value === undefined ? '' : `: ${JSON.stringify(value)?.slice(0, 80)}`;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${field === '(top level)' ? '' : field + '.'}${(e.params as { additionalProperty: string }).additionalProperty}: unknown field`;
    case 'enum':
      return `${field}${shown} is not allowed; allowed: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `${field}${shown} must be ${(e.params as { type: string }).type}`;
    case 'required':
      return `${field === '(top level)' ? '' : field + '.'}${(e.params as { missingProperty: string }).missingProperty}: required field is missing`;
    case 'pattern':
      return `${field}${shown} has the wrong form (${describePattern(e.instancePath)})`;
    default:
      return `${field}${shown} ${e.message ?? 'is invalid'}`;
  }
}

function describePattern(instancePath: string): string {
  if (instancePath.includes('recipients'))
    return 'an age recipient: "age1" and 58 more characters, from `safetynet keygen`';
  return 'lower-case letters, digits, "_" and "-", starting with a letter, at most 32 characters';
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur: unknown = data;
  for (const part of pointer.split('/').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/** The shape after schema validation with defaults. */
interface RawConfig {
  logs: {
    store: { type: 'sqlite' | 'postgres'; path: string; connectionString?: string };
    spool: string;
    retention: Record<string, number>;
    categories: string[];
    redact: { keys: string[] };
    stdout: boolean;
    maxDetailsBytes: number;
  };
  database: RawDatabaseConfig;
  backup: {
    repository: string;
    stateDir: string;
    s3: { endpoint?: string; region?: string; forcePathStyle?: boolean };
    recipients: string[];
    identity?: string;
    timezone?: string;
    retention: { daily: number; weekly: number; monthly: number; pointInTimeDays: number };
    schedule: {
      full: string;
      incremental: string;
      files: string;
      retention: string;
      logRetention: string;
      restoreTest: string;
      readVerify: string;
    };
    objectives: { rpo: string; rto: string };
    readVerifySlices: number;
    files?: { name: string; path: string; include?: string[]; exclude?: string[] }[];
  };
  admin: {
    host: string;
    port: number;
    users: string;
    sessionIdleMinutes: number;
    sessionMaxHours: number;
    trustProxy: boolean | string[];
  };
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** admin.trustProxy: every entry an IP address, an address/prefix, or a proxy-addr keyword. */
function checkTrustProxy(v: boolean | string[]): void {
  if (typeof v === 'boolean') return;
  v.forEach((entry, i) => {
    const [addr, prefix, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const prefixOk =
      prefix === undefined ||
      (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32) && family !== 0);
    if (PROXY_KEYWORDS.has(entry) || (family !== 0 && prefixOk && extra === undefined)) return;
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `admin.trustProxy[${i}]: "${entry.slice(0, 80)}" is not an IP address, a CIDR range or a known keyword`,
      {
        hint: 'list your reverse proxies, e.g. ["127.0.0.1", "10.0.0.0/8"] (or "loopback", "linklocal", "uniquelocal"), or use true or false',
      },
    );
  });
}

/** A warning when the age identity (the key to every backup) can be read by other users. */
function identityModeWarning(file: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return undefined; // missing: reported where it is needed (restore, verify --read-data)
  }
  if ((mode & 0o077) === 0) return undefined;
  return `backup.identity: ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}); it decrypts every backup: chmod 600 ${file}`;
}

/**
 * logs.store.connectionString for the PostgreSQL log store: a postgres:// URL naming a host and a
 * database, or absent when the standard PG* variables (PGHOST, PGDATABASE …) say where the server is.
 */
function checkLogStoreConnection(cs: string | undefined, env: NodeJS.ProcessEnv, where: string): void {
  const example = 'e.g. "postgres://safetynet@db.internal:5432/shop"';
  if (cs === undefined) {
    if (env.PGHOST || env.PGDATABASE || env.PGSERVICE) return;
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `logs.store.connectionString is required when logs.store.type is "postgres"${where}`,
      { hint: `set logs.store.connectionString, ${example}, or the PGHOST/PGDATABASE environment variables` },
    );
  }
  const parsed = connectionUrl(cs);
  const url = parsed?.url;
  const problem = !url
    ? 'is not a URL'
    : url.protocol !== 'postgres:' && url.protocol !== 'postgresql:'
      ? `has the scheme "${url.protocol}", expected "postgres:"`
      : !parsed.hostname && !url.searchParams.get('host')
        ? 'names no host'
        : url.port !== '' && !(Number(url.port) >= 1 && Number(url.port) <= 65535)
          ? 'has a bad port'
          : null;
  if (problem) {
    throw new ConfigError('E_CONFIG_VALUE', `logs.store.connectionString ${problem}${where}`, {
      hint: `use a PostgreSQL URL, ${example} (percent-encode special characters in the password)`,
    });
  }
}
