/**
 * The JSON schema of `safetynet.config.json`. Ajv validates the file against it and fills in
 * defaults (`useDefaults`), so this file is the one place where the allowed shape and the embedded
 * defaults are written down. Semantic rules that a schema cannot say well (retention floors, cron
 * expressions, time zones) live in `validate.ts`.
 */

/** Built-in log categories, in the order the docs list them. */
export const BUILTIN_CATEGORIES = [
  'webhook',
  'payment',
  'order',
  'invoice',
  'inventory',
  'admin',
  'email',
  'error',
  'security',
  'backup',
  'system',
] as const;

/** Days each category is kept unless the config says longer. */
export const DEFAULT_LOG_RETENTION_DAYS: Record<string, number> = {
  default: 90,
  payment: 365,
  webhook: 365,
  order: 365,
  admin: 365,
  security: 365,
};

/** The spec's floor: no category below 90 days; payments and orders at least a year. */
export const MIN_LOG_RETENTION_DAYS: Record<string, number> = {
  default: 90,
  payment: 365,
  order: 365,
};

import { databaseSchema } from './database.js';

const cron = { type: 'string', minLength: 1 };

export const configSchema = {
  $id: 'https://safetynet.dev/schema/config.json',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    $schema: { type: 'string' },
    logs: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        store: {
          type: 'object',
          default: {},
          properties: {
            type: { enum: ['sqlite', 'postgres'], default: 'sqlite' },
            path: { type: 'string', minLength: 1, default: 'data/logs.sqlite' },
            connectionString: { type: 'string', minLength: 1 },
          },
          additionalProperties: false,
        },
        spool: { type: 'string', minLength: 1, default: 'data/log-spool' },
        retention: {
          type: 'object',
          default: {},
          additionalProperties: { type: 'integer', minimum: 1, maximum: 36500 },
        },
        categories: {
          type: 'array',
          default: [],
          items: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' },
          uniqueItems: true,
        },
        redact: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            keys: { type: 'array', default: [], items: { type: 'string', minLength: 1 } },
          },
        },
        stdout: { type: 'boolean', default: false },
        maxDetailsBytes: { type: 'integer', minimum: 1024, maximum: 16777216, default: 65536 },
      },
    },
    database: databaseSchema,
    backup: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        repository: { type: 'string', minLength: 1, default: 'data/backups' },
        stateDir: { type: 'string', minLength: 1, default: 'data/backup-state' },
        s3: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            endpoint: { type: 'string', minLength: 1 },
            region: { type: 'string', minLength: 1 },
            forcePathStyle: { type: 'boolean' },
          },
        },
        recipients: { type: 'array', default: [], items: { type: 'string', pattern: '^age1[0-9a-z]{58}$' } },
        identity: { type: 'string', minLength: 1 },
        timezone: { type: 'string', minLength: 1 },
        retention: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            daily: { type: 'integer', minimum: 0, default: 30 },
            weekly: { type: 'integer', minimum: 0, default: 12 },
            monthly: { type: 'integer', minimum: 0, default: 12 },
            pointInTimeDays: { type: 'integer', minimum: 0, default: 7 },
          },
        },
        schedule: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            full: { ...cron, default: '0 3 * * *' },
            incremental: { ...cron, default: '0 * * * *' },
            files: { ...cron, default: '30 3 * * *' },
            retention: { ...cron, default: '0 5 * * *' },
            logRetention: { ...cron, default: '15 5 * * *' },
            restoreTest: { ...cron, default: '0 4 1 * *' },
            /** The rotating read-verify: each run re-reads one slice of the repository. */
            readVerify: { ...cron, default: '30 4 * * *' },
          },
        },
        /** Runs of the read-verify job over which every object is re-read once (daily runs: days). */
        readVerifySlices: { type: 'integer', minimum: 1, maximum: 10000, default: 30 },
        objectives: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            rpo: { type: 'string', default: '1h' },
            rto: { type: 'string', default: '4h' },
          },
        },
        files: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'path'],
            properties: {
              name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' },
              path: { type: 'string', minLength: 1 },
              include: { type: 'array', items: { type: 'string', minLength: 1 } },
              exclude: { type: 'array', items: { type: 'string', minLength: 1 } },
            },
          },
        },
      },
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
        users: { type: 'string', minLength: 1, default: 'data/admin-users.json' },
        sessionIdleMinutes: { type: 'integer', minimum: 1, default: 30 },
        sessionMaxHours: { type: 'integer', minimum: 1, default: 12 },
        /**
         * Behind a reverse proxy: true (trust every hop), or the proxies' addresses / CIDRs
         * ("10.0.0.1", "10.0.0.0/8", "loopback"). Then X-Forwarded-For gives the client address
         * and X-Forwarded-Proto: https makes the session cookie Secure. Default false.
         */
        trustProxy: { type: ['boolean', 'array'], items: { type: 'string', minLength: 1 }, default: false },
      },
    },
  },
} as const;
