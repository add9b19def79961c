/**
 * A real environment for file-backup tests: a temp folder with an age identity, a config whose
 * file sets point at real folders, the real logger (SQLite log store) and a local or S3 repository.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { resolveConfig, type SafetynetConfig } from '../../src/config/index.js';
import { generateIdentity } from '../../src/backup/crypto/index.js';
import type { BackupDeps } from '../../src/backup/context.js';
import type { Logger } from '../../src/log/types.js';
import type { Clock } from '../../src/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { depsFactory } from '../helpers/backup-deps.js';

export interface FilesEnv {
  dir: string;
  /** Folder holding the shop's files (sets point below it). */
  shop: string;
  config: SafetynetConfig;
  configFile: string;
  identityFile: string;
  raw: Record<string, unknown>;
  deps: BackupDeps;
  logger: Logger;
  makeDeps(overrides?: { config?: SafetynetConfig; clock?: Clock }): Promise<BackupDeps & { logger: Logger }>;
  close(): Promise<void>;
}

export interface FilesEnvOptions {
  /** backup.files entries (paths relative to the env folder); default: invoices + images under shop/. */
  sets?: { name: string; path: string; include?: string[]; exclude?: string[] }[];
  /** Extra backup config. */
  backup?: Record<string, unknown>;
  clock?: Clock;
  /** Keep the folder after the current test (an env shared by several tests removes it itself). */
  keepDir?: boolean;
}

export async function createFilesEnv(opts: FilesEnvOptions = {}): Promise<FilesEnv> {
  const dir = opts.keepDir
    ? mkdtempSync(path.join(tmpdir(), 'safetynet-files-'))
    : tempDir('safetynet-files-');
  const shop = path.join(dir, 'shop');
  mkdirSync(path.join(shop, 'invoices'), { recursive: true });
  mkdirSync(path.join(shop, 'images'), { recursive: true });
  const { identity, recipient } = generateIdentity();
  const identityFile = path.join(dir, 'keys', 'identity.txt');
  mkdirSync(path.dirname(identityFile), { recursive: true });
  writeFileSync(identityFile, `# test identity\n${identity}\n`, { mode: 0o600 });
  const sets = opts.sets ?? [
    { name: 'invoices', path: 'shop/invoices' },
    { name: 'images', path: 'shop/images' },
  ];
  const raw = {
    backup: {
      recipients: [recipient],
      identity: 'keys/identity.txt',
      timezone: 'UTC',
      files: sets,
      ...(opts.backup ?? {}),
    },
  };
  const configFile = path.join(dir, 'safetynet.config.json');
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  const config = resolveConfig(raw, { file: configFile, baseDir: dir, env: {} });
  const { makeDeps, closeAll } = depsFactory(config, opts.clock);
  const deps = await makeDeps();
  return {
    dir,
    shop,
    config,
    configFile,
    identityFile,
    raw,
    deps,
    logger: deps.logger,
    makeDeps,
    async close() {
      await closeAll();
      if (opts.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file (creating folders) with a fixed mtime, so tests control change detection. */
export function put(file: string, content: string | Buffer, mtimeSec = 1_750_000_000): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  utimesSync(file, mtimeSec, mtimeSec);
}

/** Deterministic pseudo-random bytes (incompressible), distinct per seed. */
export function bytes(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
