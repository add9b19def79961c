/**
 * Noticing that the SQLite store file was deleted or replaced under an open connection. SQLite
 * keeps writing to the file it opened, so without this every later entry would go into a
 * deleted file (lost for good) or past a replacement (which then looks like a fresh, intact
 * store). Each append first compares the path's device and inode with the ones opened; on a
 * change the content still reachable through the connection is rescued with `VACUUM INTO`:
 *
 * - deleted: the rescued copy is put back at the path (nothing lost, the chains go on);
 * - replaced: the rescued copy is kept beside it as `<file>.displaced-<time>.sqlite`, and the
 *   replacement is what the writer reopens.
 *
 * Then the append fails with E_LOG_STORE_REPLACED (a StorageError): the writer spools the batch,
 * reopens the path, replays, and records a `critical` `system` entry saying what happened.
 */
import type Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../../errors.js';

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The device and inode now at `file`, or undefined when nothing is there. */
export function fileIdentity(file: string): FileIdentity | undefined {
  try {
    const st = statSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** What happened to the file, or undefined when it is still the one opened. */
export function fileChange(file: string, opened: FileIdentity): 'deleted' | 'replaced' | undefined {
  const now = fileIdentity(file);
  if (!now) return 'deleted';
  return sameFile(now, opened) ? undefined : 'replaced';
}

/**
 * Rescues what `db` still reaches after the file at `file` was deleted or replaced, closes `db`,
 * and returns the error the append fails with (its message says where the content went).
 */
export function rescueAndFail(
  db: Database.Database,
  file: string,
  change: 'deleted' | 'replaced',
  now: number,
  ownWal: FileIdentity | undefined,
): StorageError {
  const stamp = new Date(now).toISOString().replace(/[-:.]/g, '');
  const tmp = `${file}.rescue-${stamp}-${process.pid}.sqlite`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    db.prepare('VACUUM INTO ?').run(tmp);
    chmodSync(tmp, 0o600);
  } catch (err) {
    rmSync(tmp, { force: true });
    closeQuietly(db);
    return replacedError(file, change, `its content could not be rescued (${(err as Error).message})`);
  }
  closeQuietly(db);
  // SQLite leaves the WAL of a moved database file in place (SQLITE_READONLY_DBMOVED), and the
  // next connection at the path would apply those frames to whatever file is there now: remove
  // our stale `-wal`/`-shm` first — always after a delete, after a replace only when the WAL is
  // still the one this connection wrote (the replacement may have a WAL of its own).
  const walNow = fileIdentity(`${file}-wal`);
  if (change === 'deleted' || (walNow && ownWal && sameFile(walNow, ownWal))) {
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
  }
  if (change === 'deleted' && !existsSync(file)) {
    renameSync(tmp, file);
    return replacedError(file, change, 'its content was rescued from the open connection and put back');
  }
  const kept = `${file}.displaced-${stamp}.sqlite`;
  renameSync(tmp, kept);
  return replacedError(file, change, `its previous content was saved as ${kept}`);
}

function closeQuietly(db: Database.Database): void {
  try {
    db.close();
  } catch {
    // already unusable
  }
}

function replacedError(file: string, change: 'deleted' | 'replaced', what: string): StorageError {
  return new StorageError(
    'E_LOG_STORE_REPLACED',
    `the log store file ${file} was ${change} while this process was writing to it; ${what}`,
    {
      hint: 'find out who removed or replaced the file; run `safetynet logs verify` (it checks the chain anchors in the backup repository)',
      transient: true,
    },
  );
}
