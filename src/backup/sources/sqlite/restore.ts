/**
 * Restores a SQLite database from a point: the full point's parts in order, then each incremental
 * of the chain applied page by page. The result is checked in a temporary file beside the target
 * (SHA-256 of every byte against the manifest, fsync, and the structural check of `opts.check`:
 * check.ts) and only then renamed into place.
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
import { checkDatabaseInWorkers, type CheckLevel, type DatabaseCheck } from './check.js';
import type { DbRestoreOptions, DbRestoreResult } from '../types.js';
import type { PartRecord } from '../../repo/types.js';
import type { SqliteTarget } from './target.js';

export type { DbRestoreOptions, DbRestoreResult } from '../types.js';

/** Chooses the point to restore: `pointId`, or the newest at or before `at`, or the newest. */
export function choosePoint(
  points: CatalogEntry[],
  opts: { at?: number; pointId?: string; now: number },
  source: string = 'db',
): CatalogEntry {
  const db = points.filter((p) => p.source === source);
  const what = source === 'logs' ? 'log store' : 'database';
  if (db.length === 0) {
    throw new SafetynetError('E_NO_POINTS', `the repository holds no ${what} restore point`, {
      hint: `run \`safetynet backup ${source}\` first; \`safetynet backups list\` shows what the repository holds`,
      exitCode: 1,
    });
  }
  if (opts.pointId) {
    const p = db.find((x) => x.id === opts.pointId);
    if (!p)
      throw new UsageError('E_NO_SUCH_POINT', `no ${what} point with id ${opts.pointId}`, {
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
      `--at ${new Date(opts.at).toISOString()} is before the earliest ${what} point`,
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

/**
 * Restores a database point to `opts.to`. Takes a shared repository lock. Long on purpose: one
 * linear story (choose, write, prove, fsync + check, swap) whose temporary file and lock are
 * cleaned up by a single try/finally; the steps themselves live in the functions below.
 */
export async function restoreSqlite(
  deps: BackupDeps,
  opts: DbRestoreOptions,
  source: SqliteTarget['source'] = 'db',
): Promise<DbRestoreResult> {
  const { repo, clock } = deps;
  const started = performance.now();
  const level: CheckLevel = opts.check ?? 'quick';
  await repo.requireConfig();
  await repo.identities(); // fail before any work when the key is missing
  const target = path.resolve(opts.to);
  const dir = path.dirname(target);
  const lock = opts.locked ? undefined : await repo.lock('restore db', false);
  const tmp = path.join(dir, `.${path.basename(target)}.restore-${randomBytes(4).toString('hex')}`);
  const removeTmp = () =>
    Promise.all(['', '-wal', '-shm', '-journal'].map((s) => fsp.rm(tmp + s, { force: true })));
  try {
    const points = await repo.listPoints();
    const point = choosePoint(
      points,
      {
        ...(opts.at !== undefined ? { at: opts.at } : {}),
        ...(opts.pointId ? { pointId: opts.pointId } : {}),
        now: clock.now(),
      },
      source,
    );
    const chain = chainOf(points, point);
    await checkTarget(target, Boolean(opts.force));
    const manifests: SqliteManifest[] = [];
    for (const p of chain) manifests.push(await repo.readManifest<SqliteManifest>(p));
    const final = manifests[manifests.length - 1]!;
    await ensureSpace(dir, final.database.sizeBytes);
    const prepareMs = performance.now() - started;

    // 1. Fetch, open (worker threads: decrypt, decompress, SHA-256), lay incrementals over, write.
    const t0 = performance.now();
    const fh = await fsp.open(tmp, 'wx', 0o600); // the shop's personal data: owner only
    const writer = new DurableWriter(fh, tmp);
    let written: Written;
    try {
      deps.progress.start(
        'restoring',
        manifests.reduce((n, m) => n + m.parts.reduce((a, p) => a + p.plainBytes, 0), 0),
      );
      written = await writeChain(
        repo,
        writer,
        manifests,
        deps.progress,
        level === 'full',
        opts.overlayLimitBytes,
      );
      await writer.drain();
    } catch (err) {
      await writer.drain().catch(() => {});
      await fh.close();
      throw asSpaceError(err, dir);
    } finally {
      deps.progress.done();
    }
    const fetchAndWriteMs = performance.now() - t0;
    const sha256 = written.sha256 ?? final.database.sha256;
    if (sha256 !== final.database.sha256) {
      await fh.close();
      throw new IntegrityError(
        'E_RESTORE_CHECKSUM',
        `the restored database does not match point ${point.id}: SHA-256 ${sha256}, expected ${final.database.sha256}`,
        {
          hint: 'a stored object is damaged; run `safetynet verify --read-data` and restore an earlier point with --at',
        },
      );
    }

    // 2. The fsync and the structural check overlap: the kernel writes the rest of the file back
    // while a worker thread reads it (from the page cache).
    const t1 = performance.now();
    let checks: DatabaseCheck | undefined;
    let syncTailMs = 0;
    let checkMs = 0;
    try {
      const [synced, checked] = await Promise.allSettled([
        timedMs(() => writer.syncAll()),
        level === 'none'
          ? Promise.resolve({ ms: 0, value: undefined })
          : timedMs(() =>
              checkDatabaseInWorkers({
                file: tmp,
                level,
                foreignKeyCheck: Boolean(opts.foreignKeyCheck),
                expected: final.database,
              }),
            ),
      ]);
      if (synced.status === 'rejected') throw asSpaceError(synced.reason, dir);
      if (checked.status === 'rejected') throw checked.reason;
      syncTailMs = synced.value.ms;
      checkMs = checked.value.ms;
      checks = checked.value.value;
    } finally {
      await fh.close();
    }
    const checkAndSyncMs = performance.now() - t1;
    if (checks?.ioError) throw checkIoFailure(dir, checks.integrity);
    if (checks && checks.integrity !== 'ok') throw integrityFailure(level, checks.integrity);
    if (opts.force) {
      // A leftover WAL of the old database would be replayed into the restored one.
      await Promise.all(['-wal', '-shm', '-journal'].map((s) => fsp.rm(target + s, { force: true })));
    }
    await fsp.rename(tmp, target);
    await fsyncDir(dir);
    const st = written.stats;
    return {
      point,
      chain: chain.map((c) => c.id),
      to: target,
      sizeBytes: final.database.sizeBytes,
      sha256,
      ...(level === 'full' ? { integrity: 'ok' as const } : {}),
      ...(checks?.foreignKeyViolations !== undefined
        ? { foreignKeyViolations: checks.foreignKeyViolations }
        : {}),
      tables: checks?.tables ?? {},
      expectedTables: final.database.tables,
      durationMs: Math.round(performance.now() - started),
      phases: {
        prepareMs: Math.round(prepareMs),
        fetchAndWriteMs: Math.round(fetchAndWriteMs),
        waitForPartsMs: Math.round(st.waitForPartsMs),
        hashMs: Math.round(st.hashMs),
        overlayMs: Math.round(st.overlayMs),
        waitForWritesMs: Math.round(writer.waitMs),
        checkAndSyncMs: Math.round(checkAndSyncMs),
        syncTailMs: Math.round(syncTailMs),
        checkMs: Math.round(checkMs),
      },
      facts: {
        sha256,
        hashedBy: written.sha256 === undefined ? 'parts' : 'file',
        check: level,
        integrity: level === 'full' ? 'ok' : null,
        foreignKeyViolations: checks?.foreignKeyViolations ?? null,
      },
    };
  } catch (err) {
    await removeTmp();
    throw err;
  } finally {
    await removeTmp().catch(() => {});
    await lock?.release().catch(() => {});
  }
}

/** The check could not read the restored file back: the target disk (full or failing), not the backup. */
function checkIoFailure(dir: string, message: string): SafetynetError {
  return new SafetynetError(
    'E_NO_SPACE',
    `the restored database could not be read back for its check (${message}): the disk holding ${dir} is full or failing; nothing was left behind`,
    {
      hint: 'free some space (or restore to another disk with --to) and run the same command again; the backup is not at fault',
    },
  );
}

function integrityFailure(level: CheckLevel, problems: string): IntegrityError {
  const what = level === 'full' ? 'PRAGMA integrity_check' : 'the quick structural check';
  return new IntegrityError('E_RESTORE_INTEGRITY', `${what} failed on the restored database: ${problems}`, {
    hint: 'the backup itself holds a damaged database; restore an earlier point with --at',
  });
}

async function timedMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

/** Incrementals up to this many plaintext bytes are held in memory and laid over the full point. */
const OVERLAY_LIMIT_BYTES = 256 * 1024 * 1024;

/** Where the main thread's time went while writing (see docs/backup.md, "restore phases"). */
interface PipelineStats {
  waitForPartsMs: number;
  hashMs: number;
  overlayMs: number;
}

interface Written {
  /** SHA-256 of the file written, or undefined when every part's own SHA-256 was checked instead. */
  sha256: string | undefined;
  stats: PipelineStats;
}

/**
 * Writes the chain's database into `writer`, choosing the one-pass overlay when it fits in memory.
 *
 * What proves the bytes: every part's plaintext SHA-256 recorded at backup time, checked on the
 * worker threads (both cores) as the parts are opened. With `fileHash` (check level full) a chain
 * is instead hashed whole, as written, against the manifest's SHA-256 of the database file: that
 * also proves the incrementals captured every changed page, at the cost of one sequential hash.
 */
async function writeChain(
  repo: Repository,
  writer: DurableWriter,
  manifests: SqliteManifest[],
  progress: BackupDeps['progress'],
  fileHash: boolean,
  overlayLimit = OVERLAY_LIMIT_BYTES,
): Promise<Written> {
  const stats: PipelineStats = { waitForPartsMs: 0, hashMs: 0, overlayMs: 0 };
  const full = manifests[0]!;
  const final = manifests[manifests.length - 1]!;
  const incrementalBytes = manifests
    .slice(1)
    .reduce((n, m) => n + m.parts.reduce((a, p) => a + p.plainBytes, 0), 0);
  if (
    manifests.length === 1 &&
    full.parts.reduce((n, p) => n + p.plainBytes, 0) === full.database.sizeBytes
  ) {
    // A full point alone: the file is its parts end to end, so checking each part's SHA-256
    // (recorded at backup time) in the worker threads proves every byte, on both cores, instead
    // of one sequential hash of the whole file on this thread.
    await forEachPartInOrder(
      repo,
      full,
      (plain) => {
        writer.write(plain, writer.position);
        progress.advance(plain.length);
        return writer.room();
      },
      { verifyPartHashes: true, stats },
    );
    return { sha256: undefined, stats };
  }
  const partOpts = { verifyPartHashes: !fileHash, stats };
  if (incrementalBytes <= overlayLimit) {
    // Usual case: load the incrementals' pages first, then stream the full point once, in order,
    // with the newer pages laid over it: one write (and the file's SHA-256 on the way if asked).
    const sha256 = await writeWithOverlay(repo, writer, manifests, progress, stats, partOpts);
    return { sha256, stats };
  }
  // A very long chain: write the full point, then apply each incremental in place.
  await forEachPartInOrder(
    repo,
    full,
    (plain) => {
      writer.write(plain, writer.position);
      progress.advance(plain.length);
      return writer.room();
    },
    partOpts,
  );
  for (const m of manifests.slice(1)) {
    await forEachPartInOrder(
      repo,
      m,
      async (plain, key) => {
        for (const { pageNo, page } of readDeltaPart(plain, m.database.pageSize, key)) {
          writer.write(page, (pageNo - 1) * m.database.pageSize);
          await writer.room();
        }
        progress.advance(plain.length);
      },
      partOpts,
    );
  }
  await writer.drain();
  await writer.fh.truncate(final.database.sizeBytes);
  if (!fileHash) return { sha256: undefined, stats };
  const t = performance.now();
  const sha256 = await sha256File(writer.path);
  stats.hashMs += performance.now() - t;
  return { sha256, stats };
}

/**
 * Writes the database of the chain's last point in one ordered pass: the incrementals' pages
 * (newest wins) are collected first, then each part of the full point is patched with them and
 * written; pages beyond the full point's end come from the overlay alone. Returns the file's
 * SHA-256, or undefined when the parts' own hashes were checked instead.
 */
async function writeWithOverlay(
  repo: Repository,
  writer: DurableWriter,
  manifests: SqliteManifest[],
  progress: BackupDeps['progress'],
  stats: PipelineStats,
  partOpts: PartOptions,
): Promise<string | undefined> {
  const full = manifests[0]!;
  const final = manifests[manifests.length - 1]!;
  const pageSize = final.database.pageSize;
  const finalBytes = final.database.sizeBytes;
  const overlay = new Map<number, Buffer>();
  for (const m of manifests.slice(1)) {
    await forEachPartInOrder(
      repo,
      m,
      async (plain, key) => {
        for (const { pageNo, page } of readDeltaPart(plain, m.database.pageSize, key))
          overlay.set(pageNo, page);
        progress.advance(plain.length);
      },
      partOpts,
    );
  }
  const hash = partOpts.verifyPartHashes ? undefined : createHash('sha256');
  let offset = 0;
  await forEachPartInOrder(
    repo,
    full,
    (plain) => {
      progress.advance(plain.length);
      if (offset >= finalBytes) return Promise.resolve(); // the database shrank after the full point
      const t = performance.now();
      const firstPage = offset / pageSize + 1;
      const pages = plain.length / pageSize;
      for (let i = 0; i < pages; i++) {
        const newer = overlay.get(firstPage + i);
        if (newer) newer.copy(plain, i * pageSize);
      }
      const keep = Math.min(plain.length, finalBytes - offset);
      const chunk = keep === plain.length ? plain : plain.subarray(0, keep);
      const t2 = performance.now();
      stats.overlayMs += t2 - t;
      // The write runs on libuv's threads while this thread hashes the chunk (and the next ones).
      writer.write(chunk, offset);
      hash?.update(chunk);
      stats.hashMs += performance.now() - t2;
      offset += plain.length;
      return writer.room();
    },
    partOpts,
  );
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
    writer.write(page, (pageNo - 1) * pageSize);
    hash?.update(page);
    await writer.room();
  }
  await writer.drain();
  await writer.fh.truncate(finalBytes);
  return hash?.digest('hex');
}

/**
 * Positional writes with a bounded number in flight, so this thread lays pages over and hands out
 * the next part while libuv's threads copy the previous ones into the page cache. (Early
 * writeback, a background fdatasync every 64 MiB, was measured and dropped: the final fsync took
 * 0.03–0.5 s without it on the 1 GiB database, and the restores were no faster with it.)
 */
class DurableWriter {
  /** End of the furthest write issued (appending callers write here). */
  position = 0;
  /** Time spent waiting for a free write slot. */
  waitMs = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;

  constructor(
    readonly fh: fsp.FileHandle,
    readonly path: string,
  ) {}

  /** Starts writing `buf` at `at`; the buffer must stay untouched until `room()` or `drain()` resolves. */
  write(buf: Buffer, at: number): void {
    if (this.failure) return;
    const p = writeAll(this.fh, buf, at).then(
      () => {
        this.inFlight.delete(p);
      },
      (err: unknown) => {
        this.inFlight.delete(p);
        this.failure ??= err;
      },
    );
    this.inFlight.add(p);
    this.position = Math.max(this.position, at + buf.length);
  }

  /** Resolves once fewer than MAX_WRITES_IN_FLIGHT writes are pending; rejects on a write error. */
  async room(): Promise<void> {
    const t = performance.now();
    while (this.inFlight.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(this.inFlight);
    this.waitMs += performance.now() - t;
    if (this.failure) throw this.failure;
  }

  /** Waits for every write issued so far. */
  async drain(): Promise<void> {
    const t = performance.now();
    await Promise.all(this.inFlight);
    this.waitMs += performance.now() - t;
    if (this.failure) throw this.failure;
  }

  /** Waits for the writes, then fsyncs the whole file. */
  async syncAll(): Promise<void> {
    await this.drain();
    await this.fh.sync();
  }
}

const MAX_WRITES_IN_FLIGHT = 3;

export interface PartOptions {
  /** Check each part's plaintext SHA-256 against the manifest (in the worker threads). */
  verifyPartHashes?: boolean;
  /** Adds the time this thread waited for decoded parts. */
  stats?: { waitForPartsMs: number };
}

/**
 * Fetches and opens a manifest's parts with bounded parallelism (decrypt and decompress run on the
 * seal pool's worker threads, one per core), handing each plaintext to `fn` strictly in order (so
 * a full point streams straight into the file).
 */
export async function forEachPartInOrder(
  repo: Repository,
  manifest: { id: string; parts: PartRecord[] },
  fn: (plain: Buffer, key: string) => Promise<void>,
  opts: PartOptions = {},
): Promise<void> {
  const pool = await repo.openPool();
  const ahead = Math.max(4, pool.size * 2 + 1);
  const pending: Promise<Buffer>[] = [];
  const fetch = (i: number): Promise<Buffer> => {
    const p = fetchPart(repo, pool, manifest, manifest.parts[i]!, Boolean(opts.verifyPartHashes));
    p.catch(() => {});
    return p;
  };
  let next = 0;
  while (next < manifest.parts.length && pending.length < ahead) pending.push(fetch(next++));
  for (let i = 0; i < manifest.parts.length; i++) {
    const t = performance.now();
    const plain = await pending.shift()!;
    if (opts.stats) opts.stats.waitForPartsMs += performance.now() - t;
    if (next < manifest.parts.length) pending.push(fetch(next++));
    await fn(plain, manifest.parts[i]!.key);
  }
}

async function fetchPart(
  repo: Repository,
  pool: Awaited<ReturnType<Repository['openPool']>>,
  manifest: { id: string },
  part: PartRecord,
  verifyHash: boolean,
): Promise<Buffer> {
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
  // age's tags authenticate each object. The plaintext's SHA-256 is checked here (on the worker)
  // only when asked; otherwise the caller hashes the whole file it writes.
  const { plain, plainSha256 } = await pool.open(sealed, {
    transfer: true,
    name: part.key,
    skipPlainHash: !verifyHash,
  });
  if (plain.length !== part.plainBytes || (verifyHash && plainSha256 !== part.plainSha256)) {
    throw new IntegrityError(
      'E_OBJECT_CORRUPT',
      plain.length !== part.plainBytes
        ? `object ${part.key} decrypts to ${plain.length} bytes, expected ${part.plainBytes}`
        : `object ${part.key} decrypts to data whose SHA-256 ${plainSha256} is not the manifest's ${part.plainSha256}`,
      {
        hint: 'run `safetynet verify --read-data` and restore an earlier point',
        details: { key: part.key, point: manifest.id },
      },
    );
  }
  return plain;
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
      `not enough free space in ${dir}: the database needs ${fmtBytes(bytes)} plus a 16 MiB margin for SQLite's own files, ${fmtBytes(free)} are free`,
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
