/**
 * Restores a SQLite database from a point: the full point's parts in order, then each incremental
 * of the chain applied page by page. The result is checked (SHA-256 against the manifest,
 * PRAGMA integrity_check) in a temporary file beside the target and only then renamed into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, createReadStream } from 'node:fs';
import * as path from 'node:path';
import { IntegrityError, SafetynetError, UsageError } from '../../../errors.js';
import type { BackupDeps } from '../../context.js';
import type { CatalogEntry, SqliteManifest } from '../../repo/types.js';
import type { Repository } from '../../repo/repository.js';
import { readDeltaPart } from './delta-format.js';
import { fsyncDir } from '../../../util/fs.js';
import { checkDatabaseInWorker } from './check.js';
import type { DbRestoreOptions, DbRestoreResult } from '../types.js';
import type { PartRecord } from '../../repo/types.js';

export type { DbRestoreOptions, DbRestoreResult } from '../types.js';

/** Chooses the point to restore: `pointId`, or the newest at or before `at`, or the newest. */
export function choosePoint(
  points: CatalogEntry[],
  opts: { at?: number; pointId?: string; now: number },
): CatalogEntry {
  const db = points.filter((p) => p.source === 'db');
  if (db.length === 0) {
    throw new SafetynetError('E_NO_POINTS', 'the repository holds no database restore point', {
      hint: 'run `safetynet backup db` first; `safetynet backups list` shows what the repository holds',
      exitCode: 1,
    });
  }
  if (opts.pointId) {
    const p = db.find((x) => x.id === opts.pointId);
    if (!p)
      throw new UsageError('E_NO_SUCH_POINT', `no database point with id ${opts.pointId}`, {
        hint: 'pick an id from `safetynet backups list`',
      });
    return p;
  }
  if (opts.at === undefined) return db[db.length - 1]!;
  if (opts.at > opts.now) {
    throw new UsageError('E_AT_FUTURE', `--at ${new Date(opts.at).toISOString()} is in the future`, {
      hint: `give a time at or before now (${new Date(opts.now).toISOString()}), or leave --at out for the newest point`,
    });
  }
  let chosen: CatalogEntry | undefined;
  for (const p of db) if (Date.parse(p.time) <= opts.at) chosen = p;
  if (!chosen) {
    throw new UsageError(
      'E_AT_BEFORE_FIRST',
      `--at ${new Date(opts.at).toISOString()} is before the earliest database point`,
      {
        hint: `the earliest point is ${db[0]!.id} at ${db[0]!.time}; give that time or later`,
        details: { earliest: db[0]!.time },
      },
    );
  }
  return chosen;
}

/** The chain of points from the full one to `point`, oldest first. */
export function chainOf(points: CatalogEntry[], point: CatalogEntry): CatalogEntry[] {
  const byId = new Map(points.map((p) => [p.id, p]));
  const chain: CatalogEntry[] = [point];
  let cur = point;
  while (cur.kind === 'incremental') {
    const parent = cur.parent ? byId.get(cur.parent) : undefined;
    if (!parent) {
      throw new IntegrityError(
        'E_CHAIN_BROKEN',
        `point ${cur.id} builds on ${cur.parent ?? '(nothing)'}, which is not in the repository`,
        {
          hint: 'restore an older point (`safetynet backups list`), and run `safetynet verify`',
        },
      );
    }
    if (chain.length > 100_000)
      throw new IntegrityError('E_CHAIN_BROKEN', `the chain of point ${point.id} loops`);
    chain.unshift(parent);
    cur = parent;
  }
  return chain;
}

/** Restores a database point to `opts.to`. Takes a shared repository lock. */
export async function restoreSqlite(deps: BackupDeps, opts: DbRestoreOptions): Promise<DbRestoreResult> {
  const { repo, clock } = deps;
  const started = performance.now();
  await repo.requireConfig();
  const identities = await repo.identities(); // fail before any work when the key is missing
  void identities;
  const target = path.resolve(opts.to);
  const lock = opts.locked ? undefined : await repo.lock('restore db', false);
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.restore-${randomBytes(4).toString('hex')}`,
  );
  const removeTmp = () =>
    Promise.all(['', '-wal', '-shm', '-journal'].map((s) => fsp.rm(tmp + s, { force: true })));
  try {
    const points = await repo.listPoints();
    const point = choosePoint(points, {
      ...(opts.at !== undefined ? { at: opts.at } : {}),
      ...(opts.pointId ? { pointId: opts.pointId } : {}),
      now: clock.now(),
    });
    const chain = chainOf(points, point);
    await checkTarget(target, Boolean(opts.force));
    const manifests: SqliteManifest[] = [];
    for (const p of chain) manifests.push(await repo.readManifest<SqliteManifest>(p));
    const final = manifests[manifests.length - 1]!;
    await ensureSpace(path.dirname(target), final.database.sizeBytes);

    const t0 = performance.now();
    const fh = await fsp.open(tmp, 'wx', 0o600); // the shop's personal data: owner only
    let streamedHash: string | undefined;
    try {
      deps.progress.start(
        'restoring',
        manifests.reduce((n, m) => n + m.parts.reduce((a, p) => a + p.plainBytes, 0), 0),
      );
      const incrementalBytes = manifests
        .slice(1)
        .reduce((n, m) => n + m.parts.reduce((a, p) => a + p.plainBytes, 0), 0);
      if (incrementalBytes <= (opts.overlayLimitBytes ?? OVERLAY_LIMIT_BYTES)) {
        // Usual case: load the incrementals' pages first, then stream the full point once, in order,
        // with the newer pages laid over it: one write and the file's SHA-256 on the way.
        streamedHash = await writeWithOverlay(repo, fh, manifests, deps.progress);
      } else {
        // A very long chain: write the full point, then apply each incremental in place.
        let offset = 0;
        await forEachPartInOrder(repo, manifests[0]!, async (plain) => {
          await writeAll(fh, plain, offset);
          offset += plain.length;
          deps.progress.advance(plain.length);
        });
        for (const m of manifests.slice(1)) {
          await forEachPartInOrder(repo, m, async (plain, key) => {
            for (const { pageNo, page } of readDeltaPart(plain, m.database.pageSize, key)) {
              await writeAll(fh, page, (pageNo - 1) * m.database.pageSize);
            }
            deps.progress.advance(plain.length);
          });
        }
        await fh.truncate(final.database.sizeBytes);
      }
    } catch (err) {
      await fh.close();
      throw asSpaceError(err, path.dirname(target));
    } finally {
      deps.progress.done();
    }
    const fetchAndWriteMs = performance.now() - t0;

    const t1 = performance.now();
    let checks: Awaited<ReturnType<typeof checkDatabaseInWorker>>;
    let sha256: string;
    try {
      sha256 = streamedHash ?? (await sha256File(tmp));
      if (sha256 !== final.database.sha256) {
        throw new IntegrityError(
          'E_RESTORE_CHECKSUM',
          `the restored database does not match point ${point.id}: SHA-256 ${sha256}, expected ${final.database.sha256}`,
          {
            hint: 'a stored object is damaged; run `safetynet verify --read-data` and restore an earlier point with --at',
          },
        );
      }
      // The fsync and the checks overlap: the kernel writes the file back while a worker thread
      // reads it (from the page cache) for PRAGMA integrity_check.
      const [synced, checked] = await Promise.allSettled([
        fh.sync(),
        checkDatabaseInWorker(tmp, Boolean(opts.foreignKeyCheck)),
      ]);
      if (synced.status === 'rejected') throw asSpaceError(synced.reason, path.dirname(target));
      if (checked.status === 'rejected') throw checked.reason;
      checks = checked.value;
    } finally {
      await fh.close();
    }
    const checkMs = performance.now() - t1;
    if (checks.integrity !== 'ok') {
      throw new IntegrityError(
        'E_RESTORE_INTEGRITY',
        `PRAGMA integrity_check failed on the restored database: ${checks.integrity}`,
        {
          hint: 'the backup itself holds a damaged database; restore an earlier point with --at',
        },
      );
    }
    if (opts.force) {
      // A leftover WAL of the old database would be replayed into the restored one.
      await Promise.all(['-wal', '-shm', '-journal'].map((s) => fsp.rm(target + s, { force: true })));
    }
    await fsp.rename(tmp, target);
    await fsyncDir(path.dirname(target));
    return {
      point,
      chain: chain.map((c) => c.id),
      to: target,
      sizeBytes: final.database.sizeBytes,
      sha256,
      integrity: 'ok',
      ...(checks.foreignKeyViolations !== undefined
        ? { foreignKeyViolations: checks.foreignKeyViolations }
        : {}),
      tables: checks.tables,
      expectedTables: final.database.tables,
      durationMs: Math.round(performance.now() - started),
      phases: { fetchAndWriteMs: Math.round(fetchAndWriteMs), checkAndSyncMs: Math.round(checkMs) },
      facts: { sha256, integrity: 'ok', foreignKeyViolations: checks.foreignKeyViolations ?? null },
    };
  } catch (err) {
    await removeTmp();
    throw err;
  } finally {
    await removeTmp().catch(() => {});
    await lock?.release().catch(() => {});
  }
}

/** Incrementals up to this many plaintext bytes are held in memory and laid over the full point. */
const OVERLAY_LIMIT_BYTES = 256 * 1024 * 1024;

/**
 * Writes the database of the chain's last point in one ordered pass: the incrementals' pages
 * (newest wins) are collected first, then each part of the full point is patched with them and
 * written; pages beyond the full point's end come from the overlay alone. Returns the SHA-256.
 */
async function writeWithOverlay(
  repo: Repository,
  fh: fsp.FileHandle,
  manifests: SqliteManifest[],
  progress: BackupDeps['progress'],
): Promise<string> {
  const full = manifests[0]!;
  const final = manifests[manifests.length - 1]!;
  const pageSize = final.database.pageSize;
  const finalBytes = final.database.sizeBytes;
  const overlay = new Map<number, Buffer>();
  for (const m of manifests.slice(1)) {
    await forEachPartInOrder(repo, m, async (plain, key) => {
      for (const { pageNo, page } of readDeltaPart(plain, m.database.pageSize, key))
        overlay.set(pageNo, page);
      progress.advance(plain.length);
    });
  }
  const hash = createHash('sha256');
  let offset = 0;
  await forEachPartInOrder(repo, full, async (plain) => {
    progress.advance(plain.length);
    if (offset >= finalBytes) return; // the database shrank after the full point
    const firstPage = offset / pageSize + 1;
    const pages = plain.length / pageSize;
    for (let i = 0; i < pages; i++) {
      const newer = overlay.get(firstPage + i);
      if (newer) newer.copy(plain, i * pageSize);
    }
    const keep = Math.min(plain.length, finalBytes - offset);
    const chunk = keep === plain.length ? plain : plain.subarray(0, keep);
    await writeAll(fh, chunk, offset);
    hash.update(chunk);
    offset += plain.length;
  });
  // Pages the database grew by since the full point.
  for (let pageNo = full.database.pageCount + 1; pageNo <= final.database.pageCount; pageNo++) {
    const page = overlay.get(pageNo);
    if (!page) {
      throw new IntegrityError(
        'E_CHAIN_INCOMPLETE',
        `page ${pageNo} of point ${final.id} is in no point of its chain`,
        {
          hint: 'the chain is damaged; run `safetynet verify --read-data` and restore an earlier point',
        },
      );
    }
    await writeAll(fh, page, (pageNo - 1) * pageSize);
    hash.update(page);
  }
  await fh.truncate(finalBytes);
  return hash.digest('hex');
}

/**
 * Fetches and opens a manifest's parts with bounded parallelism, handing each plaintext to `fn`
 * strictly in order (so a full point streams straight into the file).
 */
export async function forEachPartInOrder(
  repo: Repository,
  manifest: { id: string; parts: PartRecord[] },
  fn: (plain: Buffer, key: string) => Promise<void>,
): Promise<void> {
  const pool = await repo.openPool();
  const ahead = 6;
  const pending: Promise<Buffer>[] = [];
  const fetch = (i: number): Promise<Buffer> => {
    const part = manifest.parts[i]!;
    const p = (async () => {
      const sealed = await repo.storage.get(part.key);
      if (sealed.length !== part.sealedBytes) {
        throw new IntegrityError(
          'E_OBJECT_CORRUPT',
          `object ${part.key} has ${sealed.length} bytes, expected ${part.sealedBytes}`,
          {
            hint: 'the object was truncated or replaced; run `safetynet verify --read-data` and restore an earlier point',
            details: { key: part.key, point: manifest.id },
          },
        );
      }
      // age's tags authenticate each object; the SHA-256 of the whole file written is checked
      // against the manifest afterwards, so the parts need no hash of their own here.
      const { plain } = await pool.open(sealed, { transfer: true, name: part.key, skipPlainHash: true });
      if (plain.length !== part.plainBytes) {
        throw new IntegrityError(
          'E_OBJECT_CORRUPT',
          `object ${part.key} decrypts to ${plain.length} bytes, expected ${part.plainBytes}`,
          {
            hint: 'run `safetynet verify --read-data` and restore an earlier point',
            details: { key: part.key, point: manifest.id },
          },
        );
      }
      return plain;
    })();
    p.catch(() => {});
    return p;
  };
  let next = 0;
  while (next < manifest.parts.length && pending.length < ahead) pending.push(fetch(next++));
  for (let i = 0; i < manifest.parts.length; i++) {
    const plain = await pending.shift()!;
    if (next < manifest.parts.length) pending.push(fetch(next++));
    await fn(plain, manifest.parts[i]!.key);
  }
}

async function writeAll(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

async function checkTarget(target: string, force: boolean): Promise<void> {
  let st;
  try {
    st = await fsp.lstat(target);
  } catch {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    return;
  }
  if (st.isDirectory()) {
    throw new UsageError('E_TARGET_IS_DIR', `--to ${target} is a folder`, {
      hint: 'give the path of the database file to create, e.g. --to restored/shop.sqlite',
    });
  }
  // Only a regular file may be replaced: --force must never turn /dev/null or a link into a file.
  if (!st.isFile()) {
    throw new UsageError('E_TARGET_NOT_FILE', `--to ${target} is not a regular file`, {
      hint: 'give a new path or an existing database file (not a device, link, socket or pipe)',
    });
  }
  if (!force) {
    throw new UsageError(
      'E_TARGET_EXISTS',
      `--to ${target} already exists; restore never overwrites a file unless asked`,
      {
        hint: 'restore to a new path and swap it in yourself, or add --force (stop the shop first: it must not write to the file being replaced)',
      },
    );
  }
}

/** Refuses early when the target's file system cannot hold the database. */
async function ensureSpace(dir: string, bytes: number): Promise<void> {
  const st = await fsp.statfs(dir);
  const free = Number(st.bavail) * Number(st.bsize);
  if (free < bytes + 16 * 1024 * 1024) {
    throw new SafetynetError(
      'E_NO_SPACE',
      `not enough free space in ${dir}: the database needs ${fmtBytes(bytes)}, ${fmtBytes(free)} are free`,
      {
        hint: 'free some space or restore to another disk with --to',
        details: { needed: bytes, free },
      },
    );
  }
}

function asSpaceError(err: unknown, dir: string): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
    return new SafetynetError(
      'E_NO_SPACE',
      `the disk holding ${dir} filled up during the restore; nothing was left behind`,
      {
        hint: 'free some space or restore to another disk with --to',
        cause: err,
      },
    );
  }
  return err;
}

/** SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}
