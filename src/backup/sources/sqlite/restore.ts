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
import {
  checkDatabaseInWorkers,
  checkScannedDatabase,
  type CheckLevel,
  type DatabaseCheck,
} from './check.js';
import { PageScan } from './btree-scan.js';
import { DurableWriter, MAX_WRITES_IN_FLIGHT, SlotPool, forEachPartInSlots } from './part-pipeline.js';
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
  const cpu0 = process.cpuUsage();
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
    const plan = planWrite(manifests, level, opts.overlayLimitBytes);
    const prepareMs = performance.now() - started;

    // 1. Fetch, open (worker threads: decrypt, decompress, SHA-256), lay incrementals over, scan
    // the pages for the quick check, write.
    const t0 = performance.now();
    const writer = await DurableWriter.create(tmp, plan.direct); // 0600: the shop's personal data
    let written: Written;
    try {
      deps.progress.start(
        'restoring',
        manifests.reduce((n, m) => n + m.parts.reduce((a, p) => a + p.plainBytes, 0), 0),
      );
      written = await writeChain(repo, writer, manifests, deps.progress, plan);
      await writer.drain();
    } catch (err) {
      await writer.close().catch(() => {});
      throw asSpaceError(err, dir);
    } finally {
      deps.progress.done();
    }
    const fetchAndWriteMs = performance.now() - t0;
    const sha256 = written.sha256 ?? final.database.sha256;
    if (sha256 !== final.database.sha256) {
      await writer.close();
      throw new IntegrityError(
        'E_RESTORE_CHECKSUM',
        `the restored database does not match point ${point.id}: SHA-256 ${sha256}, expected ${final.database.sha256}`,
        {
          hint: 'a stored object is damaged; run `safetynet verify --read-data` and restore an earlier point with --at',
        },
      );
    }

    // 2. The fsync and the structural check overlap: with the pages already scanned, the quick
    // check only reads the schema (SQLite parses it) and walks the recorded b-trees; otherwise a
    // worker thread reads the file back (from the page cache) while the kernel writes it out.
    const t1 = performance.now();
    let checks: DatabaseCheck | undefined;
    let syncTailMs = 0;
    let checkMs = 0;
    try {
      const [synced, checked] = await Promise.allSettled([
        timedMs(() => writer.syncAll()),
        timedMs(() => runCheck(tmp, level, written, final, Boolean(opts.foreignKeyCheck))),
      ]);
      if (synced.status === 'rejected') throw asSpaceError(synced.reason, dir);
      if (checked.status === 'rejected') throw checked.reason;
      syncTailMs = synced.value.ms;
      checkMs = checked.value.ms;
      checks = checked.value.value;
    } finally {
      await writer.close();
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
    const cpu = process.cpuUsage(cpu0);
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
        scanMs: Math.round(st.scanMs),
        waitForWritesMs: Math.round(writer.waitMs),
        checkAndSyncMs: Math.round(checkAndSyncMs),
        syncTailMs: Math.round(syncTailMs),
        checkMs: Math.round(checkMs),
        // CPU of the whole process (every thread) from the start of the restore.
        cpuUserMs: Math.round(cpu.user / 1000),
        cpuSysMs: Math.round(cpu.system / 1000),
        directIo: writer.isDirect ? 1 : 0,
      },
      facts: {
        sha256,
        hashedBy: written.sha256 === undefined ? 'parts' : 'file',
        check: level,
        checkedBy: level === 'none' ? null : written.scan ? 'stream' : 'sqlite',
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

/**
 * The structural check of `level` on the written (not yet necessarily fsync'd) file: from the
 * pages scanned on the way when there is a scan, else by SQLite reading the file in worker threads.
 */
async function runCheck(
  file: string,
  level: CheckLevel,
  written: Written,
  final: SqliteManifest,
  foreignKeyCheck: boolean,
): Promise<DatabaseCheck | undefined> {
  if (level === 'none') return undefined;
  if (level === 'quick' && written.scan) {
    return checkScannedDatabase({
      file,
      scan: written.scan,
      header: written.header,
      expected: final.database,
      foreignKeyCheck,
    });
  }
  return checkDatabaseInWorkers({ file, level, foreignKeyCheck, expected: final.database });
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

/** Where the main thread's time went while writing (see bench/README.md, the restore phases). */
interface PipelineStats {
  waitForPartsMs: number;
  hashMs: number;
  overlayMs: number;
  scanMs: number;
}

interface Written {
  /** SHA-256 of the file written, or undefined when every part's own SHA-256 was checked instead. */
  sha256: string | undefined;
  stats: PipelineStats;
  /** The pages as written, for the quick check (undefined when they could not all be seen). */
  scan?: PageScan;
  /** The first 100 bytes of the file as written (with `scan`). */
  header?: Buffer;
}

/** How the chain will be written, decided before anything is. */
interface WritePlan {
  /** The chain streams in one ordered pass (a full point alone, or incrementals laid over it). */
  onePass: boolean;
  /** Each part's SHA-256 proves the bytes; else the whole file's is computed as it is written. */
  verifyPartHashes: boolean;
  /** Scan pages as they stream past, for the quick check. */
  scan: boolean;
  /** Write with O_DIRECT: nothing reads the file back through the page cache afterwards. */
  direct: boolean;
  overlayLimit: number;
}

function planWrite(
  manifests: SqliteManifest[],
  level: CheckLevel,
  overlayLimit = OVERLAY_LIMIT_BYTES,
): WritePlan {
  const full = manifests[0]!;
  const incrementalBytes = manifests
    .slice(1)
    .reduce((n, m) => n + m.parts.reduce((a, p) => a + p.plainBytes, 0), 0);
  const fullAlone =
    manifests.length === 1 && full.parts.reduce((n, p) => n + p.plainBytes, 0) === full.database.sizeBytes;
  const onePass = fullAlone || (manifests.length > 1 && incrementalBytes <= overlayLimit);
  const scan = onePass && level === 'quick';
  return {
    onePass,
    // A full point alone: the file is its parts end to end, so each part's SHA-256 (recorded at
    // backup time, checked on the workers) proves every byte. A chain under --check full is hashed
    // whole as written instead, which also proves the incrementals caught every changed page.
    verifyPartHashes: fullAlone || level !== 'full',
    scan,
    // --check full has SQLite read every page back: leave them in the page cache for it.
    direct: level === 'none' || scan,
    overlayLimit,
  };
}

/**
 * Writes the chain's database into `writer`: in one ordered pass when it can (a full point alone,
 * or the incrementals' pages laid over the full point as it streams), else the full point and then
 * each incremental in place (a very long chain).
 */
async function writeChain(
  repo: Repository,
  writer: DurableWriter,
  manifests: SqliteManifest[],
  progress: BackupDeps['progress'],
  plan: WritePlan,
): Promise<Written> {
  const stats: PipelineStats = { waitForPartsMs: 0, hashMs: 0, overlayMs: 0, scanMs: 0 };
  if (plan.onePass) return writeOnePass(repo, writer, manifests, progress, stats, plan);
  const full = manifests[0]!;
  const final = manifests[manifests.length - 1]!;
  const partOpts = { verifyPartHashes: plan.verifyPartHashes, stats };
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
  await writer.truncate(final.database.sizeBytes);
  if (plan.verifyPartHashes) return { sha256: undefined, stats };
  const t = performance.now();
  const sha256 = await sha256File(writer.path);
  stats.hashMs += performance.now() - t;
  return { sha256, stats };
}

/**
 * Writes the database of the chain's last point in one ordered pass: the incrementals' pages
 * (newest wins) are collected first, then each part of the full point is patched with them,
 * scanned and written from its slot; pages beyond the full point's end come from the overlay
 * alone. Returns the file's SHA-256 when the parts' own hashes were not checked. A little long:
 * the per-chunk work (`emit`) is shared by the full point's parts and the grown pages, and both
 * loops must see the same overlay, scan and hash.
 */
async function writeOnePass(
  repo: Repository,
  writer: DurableWriter,
  manifests: SqliteManifest[],
  progress: BackupDeps['progress'],
  stats: PipelineStats,
  plan: WritePlan,
): Promise<Written> {
  const full = manifests[0]!;
  const final = manifests[manifests.length - 1]!;
  const pageSize = final.database.pageSize;
  const finalBytes = final.database.sizeBytes;
  const overlay = await loadOverlay(repo, manifests.slice(1), progress, plan.verifyPartHashes, stats);
  const scan = plan.scan ? new PageScan(pageSize, final.database.pageCount) : undefined;
  let header: Buffer | undefined;
  const hash = plan.verifyPartHashes ? undefined : createHash('sha256');
  // Lays newer pages over, scans, hashes and starts the write of one run of pages in a slot.
  const emit = (chunk: Buffer, offset: number, release: () => void) => {
    const t = performance.now();
    const firstPage = offset / pageSize + 1;
    if (overlay.size) {
      for (let i = 0; i < chunk.length / pageSize; i++) {
        const newer = overlay.get(firstPage + i);
        if (newer) newer.copy(chunk, i * pageSize);
      }
    }
    const t1 = performance.now();
    stats.overlayMs += t1 - t;
    if (scan) {
      if (offset === 0) header = Buffer.from(chunk.subarray(0, 100));
      scan.scan(chunk, firstPage);
    }
    const t2 = performance.now();
    stats.scanMs += t2 - t1;
    // The write runs on libuv's threads while this thread hashes the chunk (and the next ones).
    writer.write(chunk, offset, release);
    hash?.update(chunk);
    stats.hashMs += performance.now() - t2;
  };
  let offset = 0;
  await forEachPartInSlots(
    repo,
    full,
    ({ plain, release }) => {
      progress.advance(plain.length);
      const at = offset;
      offset += plain.length;
      if (at >= finalBytes) {
        release(); // the database shrank after the full point
        return Promise.resolve();
      }
      emit(plain.subarray(0, Math.min(plain.length, finalBytes - at)), at, release);
      return writer.room();
    },
    { verifyPartHashes: plan.verifyPartHashes, heldAfterCallback: MAX_WRITES_IN_FLIGHT, stats },
  );
  // Pages the database grew by since the full point, gathered into aligned runs of pages.
  const grown = final.database.pageCount - full.database.pageCount;
  if (grown > 0) {
    const runPages = Math.max(1, Math.floor(GROWN_RUN_BYTES / pageSize));
    const slots = new SlotPool(MAX_WRITES_IN_FLIGHT + 1, runPages * pageSize);
    for (let first = full.database.pageCount + 1; first <= final.database.pageCount; first += runPages) {
      const n = Math.min(runPages, final.database.pageCount - first + 1);
      const slot = slots.take();
      const run = Buffer.from(slot.buffer, slot.byteOffset, n * pageSize);
      for (let i = 0; i < n; i++) {
        const page = overlay.get(first + i);
        if (!page) {
          slots.give(slot);
          throw new IntegrityError(
            'E_CHAIN_INCOMPLETE',
            `page ${first + i} of point ${final.id} is in no point of its chain`,
            {
              hint: 'the chain is damaged; run `safetynet verify --read-data` and restore an earlier point',
            },
          );
        }
        page.copy(run, i * pageSize);
      }
      emit(run, (first - 1) * pageSize, () => slots.give(slot));
      await writer.room();
    }
  }
  await writer.truncate(finalBytes);
  return {
    sha256: hash?.digest('hex'),
    stats,
    ...(scan ? { scan, ...(header ? { header } : {}) } : {}),
  };
}

/** Run length for pages the database grew by (written from a few reused aligned buffers). */
const GROWN_RUN_BYTES = 8 * 1024 * 1024;

/** The incrementals' pages, newest version of each, by page number. */
async function loadOverlay(
  repo: Repository,
  incrementals: SqliteManifest[],
  progress: BackupDeps['progress'],
  verifyPartHashes: boolean,
  stats: PipelineStats,
): Promise<Map<number, Buffer>> {
  const overlay = new Map<number, Buffer>();
  for (const m of incrementals) {
    await forEachPartInOrder(
      repo,
      m,
      async (plain, key) => {
        for (const { pageNo, page } of readDeltaPart(plain, m.database.pageSize, key))
          overlay.set(pageNo, page);
        progress.advance(plain.length);
      },
      { verifyPartHashes, stats },
    );
  }
  return overlay;
}

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
