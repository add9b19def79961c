/**
 * Real backup dependencies for tests: the real logger (inline writer) and repository for a config,
 * made as often as a test needs (another config, another clock) and all closed together.
 */
import { createLogger } from '../../src/log/index.js';
import { noProgress, openRepository, type BackupDeps } from '../../src/backup/context.js';
import { systemClock, type Clock } from '../../src/clock.js';
import type { SafetynetConfig } from '../../src/config/index.js';

export interface DepsFactory {
  makeDeps(overrides?: { config?: SafetynetConfig; clock?: Clock }): Promise<BackupDeps>;
  /** Closes every repository and logger made, newest first. */
  closeAll(): Promise<void>;
}

export function depsFactory(config: SafetynetConfig, defaultClock: Clock = systemClock): DepsFactory {
  const closers: (() => Promise<void>)[] = [];
  return {
    async makeDeps(o = {}) {
      const cfg = o.config ?? config;
      const clock = o.clock ?? defaultClock;
      const logger = await createLogger({ config: cfg, writer: 'inline', clock, notify: () => {} });
      const repo = openRepository(cfg, clock, { workers: 2 });
      closers.push(async () => {
        await repo.close();
        await logger.close();
      });
      return { config: cfg, repo, clock, log: logger.backup, logger, progress: noProgress };
    },
    async closeAll() {
      for (const c of closers.splice(0).reverse()) await c();
    },
  };
}
