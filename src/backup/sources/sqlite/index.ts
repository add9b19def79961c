/**
 * The SQLite database source: full and page-incremental points of one database file, restored to
 * a file and checked with PRAGMA integrity_check / foreign_key_check.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { DatabaseSource, RestoreTestCheck } from '../types.js';
import { backupSqlite } from './backup.js';
import { restoreSqlite } from './restore.js';
import { formatBytes } from '../../../util/format.js';
import { describeError, restoreCheckName } from '../common.js';
import type { BackupDeps } from '../../context.js';
import { logStoreTarget, shopTarget, type SqliteTarget } from './target.js';

/** The SQLite source of the shop database (`database.path`, catalog source "db"). */
export const sqliteSource: DatabaseSource = sqliteFileSource(shopTarget, 'db');

/** The SQLite source of the log store (`logs.store.path`, catalog source "logs"). */
export const logStoreSqliteSource: DatabaseSource = sqliteFileSource(logStoreTarget, 'logs');

/** A SQLite source for the file `targetOf` picks from the config (shop database or log store). */
export function sqliteFileSource(
  targetOf: (config: BackupDeps['config']) => SqliteTarget,
  pointSource: string,
): DatabaseSource {
  return {
    type: 'sqlite',
    pointSource,
    capabilities: {
      incrementalPoints: true,
      pointInTime: false,
      restoreTarget: 'file',
      startable: false,
      continuousLog: false,
      restoreCheckLevels: true,
    },
    backup: (deps, opts) => backupSqlite(deps, opts, targetOf(deps.config)),
    restore: (deps, opts) => restoreSqlite(deps, opts, targetOf(deps.config).source),

    async restoreTest(deps, point, scratch) {
      const checks: RestoreTestCheck[] = [];
      const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
      try {
        const target = targetOf(deps.config);
        const r = await restoreSqlite(
          deps,
          {
            to: path.join(scratch, path.basename(target.file)),
            pointId: point.id,
            foreignKeyCheck: true,
            check: 'full',
            locked: true,
          },
          target.source,
        );
        check(
          'objects decrypt and match the manifest',
          true,
          `${r.chain.length} point(s), ${r.sizeBytes} bytes`,
        );
        check('SHA-256 matches the manifest', true, r.sha256 ?? '');
        check('PRAGMA integrity_check', true, 'ok');
        check(
          'PRAGMA foreign_key_check',
          r.foreignKeyViolations === 0,
          r.foreignKeyViolations === 0 ? 'no violations' : `${r.foreignKeyViolations} violations`,
        );
        checks.push(rowCountCheck(r.tables, r.expectedTables));
      } catch (err) {
        check(restoreCheckName(err), false, describeError(err));
      }
      return checks;
    },

    async health(deps) {
      const { config, repo } = deps;
      const target = targetOf(config);
      const warnings: string[] = [];
      if (repo.storage.localPath && (await sameFilesystem(repo.storage.localPath, target.file))) {
        warnings.push(
          `the repository ${repo.storage.localPath} is on the same file system as ${target.label}: a disk failure loses both (use an S3 bucket or another disk)`,
        );
      }
      // journalMode() opens a raw descriptor: never on a file this process writes (target.sqliteOnly).
      if (!target.sqliteOnly && (await journalMode(target.file)) === 'rollback') {
        warnings.push(
          `the shop database ${config.database.path} is not in WAL mode: every backup blocks the shop's writes while it reads the file (run PRAGMA journal_mode = WAL once)`,
        );
      }
      return { warnings };
    },

    async drillRecover(deps, point, scratch) {
      const target = targetOf(deps.config);
      const r = await restoreSqlite(
        deps,
        {
          to: path.join(scratch, target.source === 'db' ? 'database' : 'logs', path.basename(target.file)),
          pointId: point.id,
          foreignKeyCheck: true,
          check: 'full',
        },
        target.source,
      );
      if (r.foreignKeyViolations)
        throw new Error(`foreign_key_check found ${r.foreignKeyViolations} violations`);
      return {
        bytes: r.sizeBytes,
        detail: `point ${point.id} (${point.time}, chain of ${r.chain.length}): ${formatBytes(r.sizeBytes)}, SHA-256, integrity_check and foreign_key_check ok`,
      };
    },
  };
}

/** The restore test's row-count check: every table as the manifest recorded it. */
export function rowCountCheck(
  tables: Record<string, number>,
  expected: Record<string, number>,
): RestoreTestCheck {
  const diffs = Object.keys({ ...expected, ...tables })
    .filter((t) => expected[t] !== tables[t])
    .map((t) => `${t}: ${tables[t] ?? 'missing'} rows, manifest says ${expected[t] ?? 'absent'}`);
  return {
    name: 'row counts match the manifest',
    ok: diffs.length === 0,
    detail: diffs.length ? diffs.join('; ') : `${Object.keys(tables).length} tables`,
  };
}

/** True when both paths live on the same device (walking up to the nearest existing folder). */
async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const dev = async (p: string): Promise<number | undefined> => {
    let cur = p;
    for (;;) {
      try {
        return (await fsp.stat(cur)).dev;
      } catch {
        const up = path.dirname(cur);
        if (up === cur) return undefined;
        cur = up;
      }
    }
  };
  const [da, db] = await Promise.all([dev(a), dev(b)]);
  return da !== undefined && da === db;
}

/**
 * The SQLite file's journal mode from its header (bytes 18 and 19 are 2 in WAL mode, 1 in rollback
 * mode), without opening a connection; undefined when the file is missing or not SQLite.
 */
async function journalMode(file: string): Promise<'wal' | 'rollback' | undefined> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, 'r');
    const header = Buffer.alloc(20);
    const { bytesRead } = await fh.read(header, 0, 20, 0);
    if (bytesRead < 20 || header.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') return undefined;
    return header[18] === 2 ? 'wal' : 'rollback';
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}
