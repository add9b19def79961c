/**
 * SQLite database backups: full (every page) and incremental (only pages that changed since the
 * previous point), from a consistent snapshot (snapshot.ts), cut into ~8 MiB parts that are
 * sealed in worker threads and stored while the next part is read.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { SafetynetError } from '../../../errors.js';
import type { BackupDeps } from '../../context.js';
import { dataPartKey, newPointId } from '../../repo/layout.js';
import { pointTimeAfter } from '../../repo/point-time.js';
import { createdBy, type PointWriter } from '../../repo/repository.js';
import { lockForBackup, throwIfAborted } from '../common.js';
import {
  MANIFEST_FORMAT,
  type CatalogEntry,
  type PartRecord,
  type SqliteManifest,
} from '../../repo/types.js';
import { openSnapshot, type SqliteSnapshot } from './snapshot.js';
import { DeltaPartBuilder } from './delta-format.js';
import {
  PAGE_DIGEST_BYTES,
  digestPages,
  loadPageIndex,
  pageIndexPath,
  savePageIndex,
  type PageIndex,
} from './page-index.js';
import { formatBytes } from '../../../util/format.js';
import { calendarDay } from '../../../util/calendar.js';
import { shopTarget, type SqliteTarget } from './target.js';
import type { DbBackupMode, DbBackupOptions, DbBackupResult } from '../types.js';

/** Plaintext bytes per part (rounded down to whole pages). */
export const PART_TARGET_BYTES = 8 * 1024 * 1024;

export type { DbBackupMode, DbBackupOptions } from '../types.js';

/** A SQLite backup's result: the generic one plus the page figures. */
export interface SqliteBackupResult extends DbBackupResult {
  changedPages: number;
  pageCount: number;
  snapshotMethod: string;
  /** Time the snapshot was held open (the shop's checkpoints waited this long). */
  snapshotHeldMs: number;
}

/**
 * Backs up the configured SQLite database into the repository. Takes the repository's exclusive
 * lock; an interrupted run leaves no visible point (the catalog entry is written last).
 */
export async function backupSqlite(
  deps: BackupDeps,
  opts: DbBackupOptions,
  target: SqliteTarget = shopTarget(deps.config),
): Promise<SqliteBackupResult> {
  const { repo, config, clock } = deps;
  const dbPath = target.file;
  repo.recipients(); // fail early and clearly when no recipients are configured
  await repo.prepareForWrite();
  const lock = opts.locked ? undefined : await lockForBackup(deps, `backup db ${opts.mode}`);
  let writer: PointWriter | undefined;
  let snapshot: SqliteSnapshot | undefined;
  try {
    await repo.ensureInitialized();
    const points = (await repo.listPoints()).filter((p) => p.source === target.source);
    const indexFile = pageIndexPath(config.backup.stateDir, repo.storage.url, dbPath, target.stateFolder);
    const previous = await loadPageIndex(indexFile);
    const decision = decideKind(
      opts.mode,
      points,
      previous,
      dbPath,
      repo.storage.url,
      clock.now(),
      config.backup.timezone,
    );

    const startedAt = clock.now();
    snapshot = await openSnapshot(dbPath, {
      stagingDir: path.join(config.backup.stateDir, 'staging'),
      ...(opts.snapshotMethod ? { method: opts.snapshotMethod } : {}),
      ...(target.sqliteOnly ? { sqliteOnly: true } : {}),
    });
    const snapTime = opts.time ?? pointTimeAfter(points, clock.now());
    const snapOpenedAt = performance.now();
    const { pageSize, pageCount } = snapshot;
    let kind = decision.kind;
    let reason = decision.reason;
    if (kind === 'incremental' && previous && previous.header.pageSize !== pageSize) {
      kind = 'full';
      reason = `the page size changed (${previous.header.pageSize} -> ${pageSize})`;
    }
    const id = newPointId(snapTime);
    writer = repo.beginPoint({
      id,
      source: target.source,
      kind,
      time: snapTime,
      parent: kind === 'incremental' ? decision.parent!.id : null,
      set: opts.set ?? null,
    });
    const digests = Buffer.alloc(pageCount * PAGE_DIGEST_BYTES);
    const fileHash = createHash('sha256');
    const pagesPerPart = Math.max(1, Math.floor(PART_TARGET_BYTES / pageSize));
    const partRecords: Promise<PartRecord>[] = [];
    const delta = kind === 'incremental' ? new DeltaPartBuilder(pageSize, PART_TARGET_BYTES) : undefined;
    let changedPages = 0;
    const totalBytes = pageCount * pageSize;
    deps.progress.start(kind === 'full' ? 'full backup' : 'scanning pages', totalBytes);

    const addPart = async (plain: Buffer, pages?: number) => {
      const index = partRecords.length;
      const key = dataPartKey(id, index);
      const { stored } = await writer!.add(index, key, plain);
      const record = stored.then(({ ref, plainSha256, plainBytes }) => ({
        key,
        plainBytes,
        plainSha256,
        sealedBytes: ref.size,
        sealedSha256: ref.sha256,
        ...(pages !== undefined ? { pages } : {}),
      }));
      record.catch(() => {}); // failures surface through the writer; never as an unhandled rejection
      partRecords.push(record);
    };

    for (let first = 1; first <= pageCount; first += pagesPerPart) {
      throwIfAborted(opts.signal);
      const n = Math.min(pagesPerPart, pageCount - first + 1);
      const chunk = Buffer.allocUnsafe(n * pageSize);
      await snapshot.read(chunk, (first - 1) * pageSize, chunk.length);
      fileHash.update(chunk);
      digestPages(chunk, pageSize, first, digests);
      if (delta) {
        const old = previous!.digests;
        for (let i = 0; i < n; i++) {
          const pageNo = first + i;
          const at = (pageNo - 1) * PAGE_DIGEST_BYTES;
          const unchanged =
            pageNo <= previous!.header.pageCount &&
            digests.compare(old, at, at + PAGE_DIGEST_BYTES, at, at + PAGE_DIGEST_BYTES) === 0;
          if (unchanged) continue;
          changedPages++;
          const done = delta.add(pageNo, chunk.subarray(i * pageSize, (i + 1) * pageSize));
          if (done) await addPart(done.part, done.pages);
        }
      } else {
        changedPages += n;
        await addPart(chunk);
      }
      deps.progress.advance(chunk.length);
    }
    if (delta) {
      const last = delta.finish();
      if (last) await addPart(last.part, last.pages);
    }
    const tables = snapshot.countTables();
    const journalMode = snapshot.journalMode;
    const snapshotMethod = snapshot.method;
    // Release the snapshot before waiting on uploads: the shop's checkpoints can proceed.
    await snapshot.close();
    const snapshotHeldMs = performance.now() - snapOpenedAt;
    snapshot = undefined;
    deps.progress.done();

    const parts = await Promise.all(partRecords);
    throwIfAborted(opts.signal);
    const sha256 = fileHash.digest('hex');
    const manifest: SqliteManifest = {
      format: MANIFEST_FORMAT,
      id,
      source: target.source,
      kind,
      time: new Date(snapTime).toISOString(),
      parent: kind === 'incremental' ? decision.parent!.id : null,
      set: opts.set ?? null,
      database: {
        type: 'sqlite',
        path: dbPath,
        pageSize,
        pageCount,
        sizeBytes: totalBytes,
        sha256,
        tables,
        journalMode,
        snapshotMethod,
      },
      parts,
      ...(kind === 'incremental' ? { changedPages } : {}),
      durationMs: clock.now() - startedAt,
      createdBy: createdBy(),
    };
    const entry = await writer.commit(manifest, {
      logicalBytes: totalBytes,
      summary: { pageSize, pageCount, changedPages, parts: parts.length },
    });
    writer = undefined;
    const index: PageIndex = {
      header: {
        version: 1,
        pointId: id,
        repository: repo.storage.url,
        database: dbPath,
        pageSize,
        pageCount,
      },
      digests,
    };
    await savePageIndex(indexFile, index).catch(() => {
      // Only a cache: the next backup will be a full one instead of an incremental.
    });
    const result: SqliteBackupResult = {
      entry,
      kind,
      reason,
      changedPages,
      pageCount,
      snapshotMethod,
      snapshotHeldMs: Math.round(snapshotHeldMs),
      durationMs: clock.now() - startedAt,
      facts: {
        changedPages,
        pageCount,
        snapshotMethod,
        snapshotHeldMs: Math.round(snapshotHeldMs),
      },
      line:
        kind === 'full'
          ? `full backup ${entry.id}: ${formatBytes(totalBytes)} ${target.source === 'db' ? 'database' : 'log store'}`
          : `incremental ${target.source === 'db' ? '' : 'log store '}backup ${entry.id}: ${changedPages.toLocaleString('en-US')} of ${pageCount.toLocaleString('en-US')} pages changed since ${entry.parent}`,
    };
    return result;
  } catch (err) {
    await writer?.abort().catch(() => {});
    throw err;
  } finally {
    await snapshot?.close().catch(() => {});
    await lock?.release().catch(() => {});
  }
}

interface KindDecision {
  kind: 'full' | 'incremental';
  reason: string;
  parent?: CatalogEntry;
}

/** Chooses full or incremental, explaining why. */
function decideKind(
  mode: DbBackupMode,
  points: CatalogEntry[],
  previous: PageIndex | undefined,
  dbPath: string,
  repoUrl: string,
  now: number,
  timezone: string,
): KindDecision {
  if (mode === 'full') return { kind: 'full', reason: 'a full backup was asked for' };
  const latest = points[points.length - 1];
  if (mode === 'auto') {
    const today = calendarDay(now, timezone);
    const fullToday = points.some(
      (p) => p.kind === 'full' && calendarDay(Date.parse(p.time), timezone) === today,
    );
    if (!fullToday)
      return { kind: 'full', reason: `no full backup exists for today (${today}, ${timezone})` };
  }
  if (!latest) return { kind: 'full', reason: 'the repository holds no database point yet' };
  if (!previous)
    return { kind: 'full', reason: 'this machine has no page index of the previous point (backup.stateDir)' };
  const h = previous.header;
  if (h.pointId !== latest.id) {
    return {
      kind: 'full',
      reason: `the local page index describes point ${h.pointId}, not the newest point ${latest.id}`,
    };
  }
  if (h.database !== dbPath || h.repository !== repoUrl) {
    return { kind: 'full', reason: 'the database path or repository changed since the previous point' };
  }
  return { kind: 'incremental', reason: `pages changed since ${latest.id}`, parent: latest };
}

/** Thrown when an incremental is impossible and the caller insisted (reserved for stricter modes). */
export function incrementalImpossible(reason: string): SafetynetError {
  return new SafetynetError('E_INCREMENTAL_IMPOSSIBLE', `an incremental backup is not possible: ${reason}`, {
    hint: 'run `safetynet backup db --full` first',
  });
}

export { lockForBackup, throwIfAborted };
