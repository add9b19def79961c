/**
 * File sets as a BackupSource: `backup files`, `restore files` and the files check behind the
 * common contract, so the restore test and the drill treat them like the database sources. A
 * files point holds every configured set's tree (deduplicated blobs in packs); a restore writes a
 * tree of files, each checked against its SHA-256.
 */
import * as path from 'node:path';
import type { BackupDeps } from '../../context.js';
import type { CatalogEntry } from '../../repo/types.js';
import { formatBytes } from '../../../util/format.js';
import { describeError } from '../common.js';
import type { BackupSource, DrillRecovery, RestoreTestCheck, RestoreTestScope } from '../types.js';
import { backupFiles, type BackupFilesOptions, type BackupFilesResult } from './backup.js';
import {
  checkFilesPoint,
  restoreFiles,
  type RestoreFilesOptions,
  type RestoreFilesResult,
} from './restore.js';
import { FILES_SOURCE } from './points.js';

export type FileSetSource = BackupSource<
  BackupFilesOptions,
  BackupFilesResult,
  RestoreFilesOptions,
  RestoreFilesResult
>;

/** Restores (a sample of) the point's files into `scratch` and checks each SHA-256. */
async function restoreTest(
  deps: BackupDeps,
  point: CatalogEntry,
  scratch: string,
  scope: RestoreTestScope = {},
): Promise<RestoreTestCheck[]> {
  const sample = scope.sample ?? 'all';
  try {
    const r = await checkFilesPoint(deps, point, {
      sample,
      scratchDir: scratch,
      locked: true,
      ...(scope.signal ? { signal: scope.signal } : {}),
    });
    return [
      {
        name:
          sample === 'all'
            ? 'every file restores with its SHA-256'
            : 'sampled files restore with their SHA-256',
        ok: r.ok,
        detail: r.ok
          ? `${r.checked} files, ${r.bytes} bytes`
          : r.failures
              .slice(0, 5)
              .map((f) => `${f.set}/${f.path}: ${f.message}`)
              .join('; '),
      },
    ];
  } catch (err) {
    return [{ name: 'files restore', ok: false, detail: describeError(err) }];
  }
}

/**
 * Recovers the newest point of every set (not only `point`, the newest files point: sets may be
 * backed up apart) into `scratch`/files; throws when any file fails its SHA-256.
 */
async function drillRecover(deps: BackupDeps, _point: CatalogEntry, scratch: string): Promise<DrillRecovery> {
  const r = await restoreFiles(deps, { to: path.join(scratch, 'files') });
  if (r.failures.length)
    throw new Error(
      `${r.failures.length} files failed, e.g. ${r.failures[0]!.set}/${r.failures[0]!.path}: ${r.failures[0]!.message}`,
    );
  return {
    detail: `${r.files} files (${formatBytes(r.bytes)}) from ${r.points.length} point(s), all ${r.verified} SHA-256 ok`,
    bytes: r.bytes,
    files: r.files,
    points: r.points.map((p) => p.id),
  };
}

export const fileSetSource: FileSetSource = {
  type: 'files',
  pointSource: FILES_SOURCE,
  capabilities: {
    incrementalPoints: false,
    pointInTime: false,
    restoreTarget: 'tree',
    startable: false,
    continuousLog: false,
    restoreCheckLevels: false,
  },
  backup: backupFiles,
  restore: restoreFiles,
  restoreTest,
  drillRecover,
};
