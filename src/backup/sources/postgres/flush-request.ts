/**
 * A base backup asking the running WAL stream to store the WAL it needs now, instead of at the
 * stream's next `walUploadSeconds` tick (up to 5 s, plus a listing poll, added to every backup).
 * The backup — in serve's process or a `backup db` beside it on the same machine — writes the LSN
 * it needs into a small file beside the stream's state file; the stream looks for that file every
 * FLUSH_POLL_MS while it waits, uploads at once, and removes the file once it has stored WAL through that
 * LSN. The backup watches the stream's state file (local, no storage requests) and confirms with
 * one listing. A stream on another machine never sees the file: the backup then waits for its
 * regular upload, as before. A request older than five minutes is ignored and removed.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from '../../context.js';
import { formatLsn, parseLsn } from './wal.js';
import { pgConfig, type StreamState } from './walstream.js';

const MAX_AGE_MS = 5 * 60_000;

/**
 * How often the stream looks for a request, and the backup at the stream's state file. Every
 * base backup waits for this loop twice (bench/pg: 100 ms cost ~0.15 s of a 5 s backup); a stat
 * or a small read 50 times a second is noise even for an idle serve.
 */
export const FLUSH_POLL_MS = 20;

export function flushRequestPath(deps: BackupDeps): string {
  return path.join(deps.config.backup.stateDir, 'pg-wal', `${pgConfig(deps).slot}.flush-request`);
}

/** Asks the stream to store WAL through `lsn` now. */
export async function requestFlush(deps: BackupDeps, lsn: bigint): Promise<void> {
  const file = flushRequestPath(deps);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify({ lsn: formatLsn(lsn), at: Date.now() }));
  await fsp.rename(tmp, file);
}

/** Cheap check the stream's wait loop makes every FLUSH_POLL_MS. */
export function flushRequested(deps: BackupDeps): boolean {
  return existsSync(flushRequestPath(deps));
}

/**
 * The LSN asked for, if a request is pending and not yet met by `storedThrough`; a met or stale
 * request is removed.
 */
export async function pendingFlush(deps: BackupDeps, storedThrough: bigint): Promise<bigint | undefined> {
  const file = flushRequestPath(deps);
  let req: { lsn: string; at: number };
  try {
    req = JSON.parse(await fsp.readFile(file, 'utf8')) as { lsn: string; at: number };
  } catch {
    return undefined;
  }
  let lsn: bigint | undefined;
  try {
    lsn = parseLsn(req.lsn);
  } catch {
    lsn = undefined;
  }
  if (lsn === undefined || lsn <= storedThrough || !(Date.now() - req.at < MAX_AGE_MS)) {
    await fsp.rm(file, { force: true });
    return undefined;
  }
  return lsn;
}

/** What the stream last stored, from its state file (undefined when there is none). */
export async function streamStoredThrough(file: string): Promise<bigint | undefined> {
  try {
    const st = JSON.parse(await fsp.readFile(file, 'utf8')) as StreamState;
    return st.lastUpload ? parseLsn(st.lastUpload.lsn) : undefined;
  } catch {
    return undefined;
  }
}
