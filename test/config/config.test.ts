import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadConfig, resolveConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

function expectConfigError(raw: unknown, pattern: RegExp): ConfigError {
  try {
    resolveConfig(raw, { file: '/etc/shop/safetynet.config.json', baseDir: '/etc/shop', env: {} });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(pattern);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('applies embedded defaults when there is no file', () => {
    const dir = tempDir();
    const c = loadConfig({ cwd: dir, env: {} });
    expect(c.configFile).toBeNull();
    expect(c.logs.store).toEqual({ type: 'sqlite', path: path.join(dir, 'data/logs.sqlite') });
    expect(c.logs.retention).toMatchObject({
      default: 90,
      payment: 365,
      order: 365,
      webhook: 365,
      admin: 365,
      security: 365,
    });
    expect(c.database.path).toBe(path.join(dir, 'data/shop.sqlite'));
    expect(c.backup.repository).toBe('file://' + path.join(dir, 'data/backups'));
    expect(c.backup.retention).toEqual({ daily: 30, weekly: 12, monthly: 12, pointInTimeDays: 7 });
    expect(c.backup.schedule.full).toBe('0 3 * * *');
    expect(c.backup.objectives).toEqual({ rpoMs: 3_600_000, rtoMs: 4 * 3_600_000 });
    expect(c.admin).toMatchObject({ host: '127.0.0.1', port: 3000 });
  });

  it('resolves relative paths against the config file folder', () => {
    const dir = tempDir();
    const file = path.join(dir, 'conf', 'sn.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(
      file,
      JSON.stringify({ logs: { store: { path: 'x/logs.db' } }, backup: { repository: '../bk' } }),
    );
    const c = loadConfig({ configPath: file, cwd: '/', env: {} });
    expect(c.logs.store.path).toBe(path.join(dir, 'conf/x/logs.db'));
    expect(c.backup.repository).toBe('file://' + path.join(dir, 'bk'));
  });

  it('reads SAFETYNET_CONFIG and PORT from the environment', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.json');
    writeFileSync(file, '{"admin":{"port":4000}}');
    expect(loadConfig({ cwd: '/', env: { SAFETYNET_CONFIG: file } }).admin.port).toBe(4000);
    expect(loadConfig({ cwd: '/', env: { SAFETYNET_CONFIG: file, PORT: '5001' } }).admin.port).toBe(5001);
  });

  it('rejects retention below the spec floor, naming the field and the minimum', () => {
    const e = expectConfigError(
      { logs: { retention: { payment: 200 } } },
      /logs\.retention\.payment: 200 days.*365/,
    );
    expect(e.code).toBe('E_CONFIG_RETENTION_FLOOR');
    expectConfigError({ logs: { retention: { default: 30 } } }, /logs\.retention\.default: 30 days.*90/);
    expectConfigError({ logs: { retention: { email: 60 } } }, /logs\.retention\.email: 60 days.*90/);
  });

  it('names unknown fields, wrong types and enum values', () => {
    expectConfigError({ logs: { retension: {} } }, /logs\.retension: unknown field/);
    expectConfigError({ admin: { port: 'x' } }, /admin\.port: "x" must be integer/);
    expectConfigError(
      { database: { type: 'mysql' } },
      /database\.type: "mysql" is not allowed; allowed: "sqlite", "postgres"/,
    );
    expectConfigError({ logs: { retention: { nosuch: 100 } } }, /logs\.retention\.nosuch: unknown category/);
  });

  it('rejects bad cron expressions, time zones, durations and repositories', () => {
    expectConfigError(
      { backup: { schedule: { full: '0 25 * * *' } } },
      /backup\.schedule\.full: "0 25 \* \* \*"/,
    );
    expectConfigError({ backup: { timezone: 'Mars/Olympus' } }, /backup\.timezone/);
    expectConfigError({ backup: { objectives: { rpo: 'soon' } } }, /backup\.objectives\.rpo/);
    expectConfigError({ backup: { repository: 'ftp://x' } }, /unsupported scheme/);
    expectConfigError({ backup: { repository: 's3://A_B' } }, /not a valid bucket name/);
  });

  it('accepts custom categories and their retention', () => {
    const c = resolveConfig(
      { logs: { categories: ['shipping'], retention: { shipping: 120 } } },
      { file: null, baseDir: '/x', env: {} },
    );
    expect(c.logs.categories).toContain('shipping');
    expect(c.logs.retention.shipping).toBe(120);
  });

  it('explains invalid JSON', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{"logs": {,}');
    expect(() => loadConfig({ configPath: file, env: {} })).toThrow(/not valid JSON/);
  });
});
