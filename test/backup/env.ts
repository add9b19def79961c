/**
 * A real backup environment for tests: a temp folder with an age identity, a config, a SQLite
 * shop database in WAL mode, the real logger and a local (or S3) repository.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, type SafetynetConfig } from '../../src/config/index.js';
import { generateIdentity } from '../../src/backup/crypto/index.js';
import type { BackupDeps } from '../../src/backup/context.js';
import type { Clock } from '../../src/clock.js';
import { afterEach, expect } from 'vitest';
import { SafetynetError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { depsFactory } from '../helpers/backup-deps.js';
import { createShopDb } from './shop-db.js';

export { createShopDb };

export interface TestEnv {
  dir: string;
  config: SafetynetConfig;
  configFile: string;
  identityFile: string;
  recipient: string;
  deps: BackupDeps;
  /** Re-creates deps (e.g. after changing the clock or config). */
  makeDeps(overrides?: { config?: SafetynetConfig; clock?: Clock }): Promise<BackupDeps>;
  close(): Promise<void>;
}

export interface TestEnvOptions {
  /** Extra backup config (merged over the defaults written to safetynet.config.json). */
  backup?: Record<string, unknown>;
  clock?: Clock;
  /** The config's database section (default: the SQLite sample shop). */
  database?: Record<string, unknown>;
  /** Rows to create in the sample shop database (0: no database). */
  rows?: number;
}

export async function createTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const dir = tempDir('safetynet-backup-');
  const { identity, recipient } = generateIdentity();
  const identityFile = path.join(dir, 'keys', 'identity.txt');
  mkdirSync(path.dirname(identityFile), { recursive: true });
  writeFileSync(identityFile, `# test identity\n${identity}\n`, { mode: 0o600 });
  const raw = {
    ...(opts.database ? { database: opts.database } : {}),
    backup: {
      recipients: [recipient],
      identity: 'keys/identity.txt',
      timezone: 'UTC',
      ...(opts.backup ?? {}),
    },
  };
  const configFile = path.join(dir, 'safetynet.config.json');
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  const config = resolveConfig(raw, { file: configFile, baseDir: dir, env: {} });
  if (!opts.database && (opts.rows ?? 2000) > 0) createShopDb(config.database.path, opts.rows ?? 2000);
  const { makeDeps, closeAll } = depsFactory(config, opts.clock);
  const deps = await makeDeps();
  return {
    dir,
    config,
    configFile,
    identityFile,
    recipient,
    deps,
    makeDeps,
    async close() {
      await closeAll();
    },
  };
}

/** A factory for test environments that are all closed after each test. */
export function useTestEnvs(): (opts?: TestEnvOptions) => Promise<TestEnv> {
  const envs: TestEnv[] = [];
  afterEach(async () => {
    for (const e of envs.splice(0)) await e.close();
  });
  return async (opts = {}) => {
    const e = await createTestEnv(opts);
    envs.push(e);
    return e;
  };
}

/** Awaits `p`, expecting it to fail with a SafetynetError of `code`; returns the error. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<SafetynetError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SafetynetError);
    expect((err as SafetynetError).code).toBe(code);
    return err as SafetynetError;
  }
  throw new Error(`expected ${code}`);
}
