/**
 * `backup all`: the database and every file set in one run, under one lock, recorded with one time
 * and one set id — so a restore brings back an invoice folder that matches the orders in the
 * database.
 */
import { randomBytes } from 'node:crypto';
import type { BackupDeps } from './context.js';
import { backupDatabase, backupLogStore } from './database.js';
import { backupFiles, type BackupFilesResult } from './sources/files/backup.js';
import { lockForBackup } from './sources/common.js';
import { pointTimeAfter } from './repo/point-time.js';
import type { DbBackupResult } from './sources/types.js';

export interface BackupAllResult {
  set: string;
  time: string;
  database: DbBackupResult;
  /** The SQLite log store's point (same set and time); undefined for a PostgreSQL log store. */
  logs: DbBackupResult | undefined;
  files: BackupFilesResult;
}

export async function backupAll(
  deps: BackupDeps,
  opts: { signal?: AbortSignal } = {},
): Promise<BackupAllResult> {
  deps.repo.recipients();
  await deps.repo.prepareForWrite();
  const lock = await lockForBackup(deps, 'backup all');
  try {
    await deps.repo.ensureInitialized();
    // One time for the set, after every point already there (see repo/point-time.ts).
    const time = pointTimeAfter(await deps.repo.listPoints(), deps.clock.now());
    const set = `set-${new Date(time).toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
    const database = await backupDatabase(deps, {
      mode: 'auto',
      set,
      time,
      locked: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const logs = await backupLogStore(deps, {
      mode: 'auto',
      set,
      time,
      locked: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const files = await backupFiles(deps, { set, time, locked: true });
    return { set, time: new Date(time).toISOString(), database, logs, files };
  } finally {
    await lock.release().catch(() => {});
  }
}
