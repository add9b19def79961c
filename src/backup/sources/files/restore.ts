/**
 * `restore files`: everything, one set, or single files as of a time, into `--to DIR`, laid out
 * as DIR/<set>/<path>. Restores mode (permission bits, without setuid/setgid/sticky) and mtime,
 * verifies every file's SHA-256 before it takes its final name, never overwrites without
 * `force`, and never writes outside DIR whatever the manifest says (see sources/files/target.ts).
 *
 * Order: check every target first (nothing is written when one is in the way), create folders,
 * then per pack (fetched and opened two ahead, on the worker pool) write the files whose blobs
 * it holds, then links, then folder modes and mtimes (deepest first, as writing files changes
 * a folder's mtime). A file whose content fails its check is not left behind; the restore goes
 * on with the others and reports every failure.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants as fsc,
  fchmodSync,
  futimesSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import * as path from 'node:path';
import { SafetynetError, StorageError, UsageError, isErrno } from '../../../errors.js';
import type { BackupDeps } from '../../context.js';
import { EarlyFlush, makeTreeDurable } from './durable-tree.js';
import { stoppedError } from '../../../util/abort.js';
import type { CatalogEntry } from '../../repo/types.js';
import { compileGlob, type Glob } from './glob.js';
import type { EntryRecord, FileRecord } from './manifest.js';
import { filesPoints, newestPerSet, setsOf } from './points.js';
import { loadFilesPoint, type LoadedPoint } from './point-reader.js';
import { CREATE_FLAGS, FolderGuard, targetPath } from './target.js';
import { RestorePool } from './restore-pool.js';
import { SlotPool } from '../../crypto/index.js';
import { PACK_TARGET_BYTES } from './packer.js';
import type { BlobTask } from './restore-protocol.js';

/** Room for a sealed pack (16 MiB of plaintext, plus age's tags and zstd's framing); larger ones are fetched fresh. */
const SEALED_SLOT_BYTES = PACK_TARGET_BYTES + 1024 * 1024;

export interface RestoreFilesOptions {
  /** Folder to restore into (created if missing); files land in <to>/<set>/<path>. */
  to: string;
  /** Point in time (ms): for each set, the newest point at or before it. Default: the newest. */
  at?: number;
  /** Restore from exactly this files point. */
  pointId?: string;
  /** Only this set. */
  set?: string;
  /** Only entries matching one of these globs (matched against "<path>" and "<set>/<path>"). */
  paths?: string[];
  /** Replace existing files and links (never folders). */
  force?: boolean;
  /** The caller already holds a repository lock. */
  locked?: boolean;
}

export interface RestoreFailure {
  set: string;
  path: string;
  message: string;
}

export interface RestoreFilesResult {
  to: string;
  /** The points restored from, with the sets taken from each. */
  points: { id: string; time: string; sets: string[]; incomplete: boolean }[];
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Files whose SHA-256 matched the manifest (all restored files, when there are no failures). */
  verified: number;
  failures: RestoreFailure[];
  durationMs: number;
  /**
   * Where the time went (ms, performance clock): checking targets and creating folders, fetching
   * packs and writing files, links and folder times, and the final flush to disk.
   */
  phases: { checkAndFoldersMs: number; filesMs: number; linksAndFoldersMs: number; syncMs: number };
}

interface Item {
  set: string;
  rec: EntryRecord;
  target: string;
}

interface FileJob {
  set: string;
  rec: FileRecord;
  target: string;
  /** Offset of each blob in the file. */
  offsets: number[];
  remaining: number;
  tmp?: string;
  failed: boolean;
}

/** Chooses, per set, the point to restore from. */
export function chooseFilesPoints(
  all: readonly CatalogEntry[],
  opts: { at?: number; pointId?: string; set?: string; now: number },
): Map<string, CatalogEntry> {
  const points = filesPoints(all);
  if (points.length === 0) {
    throw new SafetynetError('E_NO_POINTS', 'the repository holds no files restore point', {
      hint: 'run `safetynet backup files` first; `safetynet backups list` shows what the repository holds',
      exitCode: 1,
    });
  }
  let chosen: Map<string, CatalogEntry>;
  if (opts.pointId) {
    const p = points.find((x) => x.id === opts.pointId);
    if (!p)
      throw new UsageError('E_NO_SUCH_POINT', `no files point with id ${opts.pointId}`, {
        hint: 'pick an id from `safetynet backups list`',
      });
    chosen = new Map(setsOf(p).map((s) => [s, p]));
  } else {
    let candidates = points;
    if (opts.at !== undefined) {
      if (opts.at > opts.now) {
        throw new UsageError('E_AT_FUTURE', `--at ${new Date(opts.at).toISOString()} is in the future`, {
          hint: `give a time at or before now (${new Date(opts.now).toISOString()}), or leave --at out for the newest point`,
        });
      }
      candidates = points.filter((p) => Date.parse(p.time) <= opts.at!);
      if (candidates.length === 0) {
        throw new UsageError(
          'E_AT_BEFORE_FIRST',
          `--at ${new Date(opts.at).toISOString()} is before the earliest files point`,
          {
            hint: `the earliest point is ${points[0]!.id} at ${points[0]!.time}; give that time or later`,
            details: { earliest: points[0]!.time },
          },
        );
      }
    }
    chosen = newestPerSet(candidates);
  }
  if (opts.set !== undefined) {
    const p = chosen.get(opts.set);
    if (!p) {
      const known = [...chosen.keys()];
      throw new UsageError(
        'E_UNKNOWN_FILE_SET',
        `no files point ${opts.pointId ? `${opts.pointId} ` : ''}holds a set named "${opts.set}"${opts.at !== undefined ? ' at that time' : ''}`,
        {
          hint: known.length
            ? `sets available: ${known.join(', ')}`
            : 'run `safetynet backups list` to see what is there',
        },
      );
    }
    chosen = new Map([[opts.set, p]]);
  }
  return chosen;
}

/** Restores files from the repository; see RestoreFilesOptions. Failures are returned, not thrown. */
export async function restoreFiles(deps: BackupDeps, opts: RestoreFilesOptions): Promise<RestoreFilesResult> {
  const { repo, clock } = deps;
  const started = clock.now();
  await repo.requireConfig();
  const lock = opts.locked ? undefined : await repo.lock('restore files', false);
  try {
    const chosen = chooseFilesPoints(await repo.listPoints(), { ...opts, now: clock.now() });
    const byPoint = new Map<string, { entry: CatalogEntry; sets: string[] }>();
    for (const [set, entry] of chosen) {
      const b = byPoint.get(entry.id) ?? { entry, sets: [] };
      b.sets.push(set);
      byPoint.set(entry.id, b);
    }
    const globs: Glob[] = (opts.paths ?? []).map((p) => {
      try {
        return compileGlob(p);
      } catch (err) {
        throw new UsageError(
          'E_BAD_GLOB',
          `--path "${p}" is not a usable pattern: ${(err as Error).message}`,
          { hint: 'give a path or glob such as 2026/INV-000123.pdf or images/**' },
        );
      }
    });
    // Only the file lists of folders a --path could match are read.
    const wantFolder = globs.length
      ? (set: string, folder: string) =>
          globs.some(
            (g) => g.couldMatchInside(folder) || g.couldMatchInside(folder ? `${set}/${folder}` : set),
          )
      : undefined;
    const loaded: { entry: CatalogEntry; point: LoadedPoint; sets: string[] }[] = [];
    for (const { entry, sets } of byPoint.values()) {
      loaded.push({
        entry,
        sets,
        point: await loadFilesPoint(repo, entry, { sets, ...(wantFolder ? { wantFolder } : {}) }),
      });
    }

    const items: Item[] = [];
    const root = prepareTarget(opts.to);
    for (const { point } of loaded) {
      for (const s of point.sets) {
        for (const rec of s.entries) {
          if (
            globs.length &&
            !globs.some((g) => g.matches(rec.path) || g.matches(`${s.record.name}/${rec.path}`))
          )
            continue;
          items.push({ set: s.record.name, rec, target: targetPath(root, s.record.name, rec.path) });
        }
      }
    }
    if (items.length === 0) {
      throw new UsageError(
        'E_NOTHING_TO_RESTORE',
        `nothing matches${opts.paths?.length ? ` --path ${opts.paths.join(', ')}` : ''} in point(s) ${[...byPoint.keys()].join(', ')}`,
        {
          hint: 'check the path (relative to its set, e.g. 2026/INV-000123.pdf, or with the set name first) or list the point with `safetynet backups list`',
        },
      );
    }

    const result = await restoreItems(deps, root, items, Boolean(opts.force));
    const out: RestoreFilesResult = {
      to: root,
      points: loaded.map(({ entry, sets }) => ({
        id: entry.id,
        time: entry.time,
        sets,
        incomplete: Boolean(entry.incomplete),
      })),
      ...result,
      durationMs: clock.now() - started,
    };
    const details = {
      to: root,
      points: out.points.map((p) => p.id),
      files: out.files,
      bytes: out.bytes,
      verified: out.verified,
      failures: out.failures.slice(0, 50),
      paths: opts.paths ?? [],
      set: opts.set ?? null,
      durationMs: out.durationMs,
    };
    if (out.failures.length)
      await deps.log.error(`files restore to ${root}: ${out.failures.length} file(s) failed their check`, {
        details,
      });
    else
      await deps.log.info(`files restore to ${root}: ${out.files} files, every SHA-256 verified`, {
        details,
      });
    return out;
  } catch (err) {
    await deps.log.error(`files restore to ${opts.to} failed`, {
      details: {
        error: err instanceof Error ? err.message : String(err),
        code: (err as { code?: string }).code,
      },
    });
    throw err;
  } finally {
    await lock?.release();
  }
}

/** Creates the target folder if needed and returns its real path. */
function prepareTarget(to: string): string {
  const abs = path.resolve(to);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) {
      throw new SafetynetError(
        'E_RESTORE_TARGET',
        `cannot create the restore folder ${abs}: ${(err as Error).message}`,
        {
          hint: 'give --to a folder you can write to',
          exitCode: 2,
        },
      );
    }
  }
  if (!statSync(abs).isDirectory()) {
    throw new UsageError('E_RESTORE_TARGET', `--to ${abs} is not a folder`, {
      hint: 'give --to a folder (it is created if missing)',
    });
  }
  return realpathSync(abs);
}

/** Checks every target, then writes. Returns counts and per-file failures. */
async function restoreItems(
  deps: BackupDeps,
  root: string,
  items: Item[],
  force: boolean,
  signal?: AbortSignal,
): Promise<Omit<RestoreFilesResult, 'to' | 'points' | 'durationMs'>> {
  const guard = new FolderGuard(root);
  const t0 = performance.now();
  // 1. Nothing in the way: existing folders on the way are real folders; existing files only with force.
  const conflicts: string[] = [];
  for (const it of items) {
    if (!guard.ensure(path.dirname(it.target), false)) continue; // its folder is not there yet
    let st;
    try {
      st = lstatSync(it.target);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    if (it.rec.type === 'dir') {
      if (!st.isDirectory()) conflicts.push(`${it.target} (a file where a folder must be)`);
    } else if (st.isDirectory()) {
      conflicts.push(`${it.target} (a folder where a ${it.rec.type === 'file' ? 'file' : 'link'} must be)`);
    } else if (!force) {
      conflicts.push(it.target);
    }
  }
  if (conflicts.length) {
    const folderClash = conflicts.some((c) => c.endsWith('must be)'));
    throw new UsageError(
      'E_RESTORE_EXISTS',
      `${conflicts.length} path(s) already exist under ${root}, e.g. ${conflicts.slice(0, 3).join(', ')}; nothing was written`,
      {
        hint: folderClash
          ? 'restore into an empty folder'
          : 'restore into an empty folder, or add --force to replace the existing files',
        details: { conflicts: conflicts.slice(0, 100) },
      },
    );
  }

  // 2. Folders.
  const dirs = items.filter((i) => i.rec.type === 'dir');
  for (const it of items) guard.ensure(it.rec.type === 'dir' ? it.target : path.dirname(it.target), true);

  // 3. Files, pack by pack.
  const t1 = performance.now();
  const failures: RestoreFailure[] = [];
  let verified = 0;
  let bytes = 0;
  const fail = (job: FileJob, message: string) => {
    if (job.failed) return;
    job.failed = true;
    if (job.tmp) rmSync(job.tmp, { force: true });
    failures.push({ set: job.set, path: job.rec.path, message });
  };
  const jobs: FileJob[] = [];
  const byPack = new Map<string, { job: FileJob; blob: number }[]>();
  for (const it of items) {
    if (it.rec.type !== 'file') continue;
    const rec = it.rec;
    const offsets: number[] = [];
    let o = 0;
    for (const b of rec.blobs) {
      offsets.push(o);
      o += b.length;
    }
    const job: FileJob = {
      set: it.set,
      rec,
      target: it.target,
      offsets,
      remaining: rec.blobs.length,
      failed: false,
    };
    jobs.push(job);
    rec.blobs.forEach((b, blob) => {
      const list = byPack.get(b.pack) ?? [];
      list.push({ job, blob });
      byPack.set(b.pack, list);
    });
  }
  for (const job of jobs) {
    if (job.rec.blobs.length === 0) {
      finishEmpty(job, force, fail);
      if (!job.failed) verified++;
    }
  }

  const packs = [...byPack.keys()];
  const early = new EarlyFlush(root);
  const pool = packs.length ? new RestorePool(await deps.repo.identities()) : undefined;
  try {
    const packBytes = (key: string) =>
      byPack.get(key)!.reduce((n, u) => n + u.job.rec.blobs[u.blob]!.length, 0);
    deps.progress.start(
      'restoring files',
      packs.reduce((n, k) => n + packBytes(k), 0),
    );
    let fatal: unknown;
    let taskId = 0;
    // A few packs in flight: one being fetched while each worker opens and writes another.
    const limit = (pool?.size ?? 1) + 1;
    const sealedSlots = new SlotPool(packs.length ? limit : 0, SEALED_SLOT_BYTES);
    const restorePack = async (key: string): Promise<void> => {
      const uses = byPack.get(key)!;
      // The sealed pack goes into a reused shared buffer that the worker reads in place (a fresh
      // 16 MiB per pack was most of the restore's system time on the VMs we measured).
      const slot = sealedSlots.take();
      try {
        await restorePackFrom(key, uses, slot);
      } finally {
        sealedSlots.give(slot);
      }
    };
    const restorePackFrom = async (
      key: string,
      uses: { job: FileJob; blob: number }[],
      slot: Uint8Array,
    ): Promise<void> => {
      let sealed: Uint8Array;
      try {
        const size = await deps.repo.storage.getInto(key, slot);
        sealed = size <= slot.length ? slot.subarray(0, size) : await deps.repo.storage.get(key);
      } catch (err) {
        if (!(err instanceof StorageError && err.code === 'E_OBJECT_MISSING')) throw err;
        for (const u of uses) fail(u.job, `pack ${key} is missing from the repository`);
        return;
      }
      const blobs: BlobTask[] = [];
      const users: FileJob[] = [];
      for (const { job, blob } of uses) {
        if (job.failed) continue;
        const ref = job.rec.blobs[blob]!;
        const whole = job.rec.blobs.length === 1;
        if (!whole) job.tmp ??= tempName(job.target);
        users.push(job);
        blobs.push({
          file: users.length - 1,
          offset: ref.offset,
          length: ref.length,
          sha256: whole ? job.rec.sha256 : ref.sha256!,
          kind: whole ? 'whole' : 'part',
          path: job.target,
          ...(whole
            ? force
              ? { tmp: tempName(job.target) }
              : {}
            : { tmp: job.tmp!, fileOffset: job.offsets[blob]! }),
          mode: job.rec.mode,
          mtimeMs: job.rec.mtimeMs,
        });
      }
      if (blobs.length === 0) return;
      const res = await pool!.run({ id: taskId++, sealed, name: key, blobs });
      if (res.ok) early.wrote(res.bytes);
      if (!res.ok) {
        if (res.fatal) {
          fatal ??= new SafetynetError(res.code, res.message, {
            exitCode: 2,
            hint: 'check backup.identity: it must be the identity whose recipient the backups were made for',
          });
        }
        for (const job of users) fail(job, `pack ${key} cannot be opened: ${res.message}`);
        return;
      }
      for (const r of res.results) {
        const job = users[r.file]!;
        if (!r.ok) {
          fail(job, r.message ?? 'failed');
          if (r.errno === 'ENOSPC') fatal ??= noSpace(root, new Error(r.message));
          continue;
        }
        if (job.rec.blobs.length === 1) {
          verified++;
          bytes += job.rec.size;
        } else if (--job.remaining === 0 && !job.failed) {
          try {
            if (finishParts(job, force, fail)) {
              verified++;
              bytes += job.rec.size;
            }
          } catch (err) {
            fail(job, `cannot be written: ${(err as Error).message}`);
          }
        }
      }
    };
    const inFlight = new Set<Promise<void>>();
    for (let next = 0; (next < packs.length && !fatal) || inFlight.size;) {
      if (signal?.aborted) fatal ??= stoppedError('files restore', 'the files written so far are removed');
      while (inFlight.size < limit && next < packs.length && !fatal) {
        const key = packs[next++]!;
        const p: Promise<void> = restorePack(key)
          .catch((err: unknown) => {
            fatal ??= err;
          })
          .finally(() => {
            inFlight.delete(p);
            deps.progress.advance(packBytes(key));
          });
        inFlight.add(p);
      }
      if (inFlight.size) await Promise.race(inFlight);
    }
    deps.progress.done();
    if (fatal) {
      for (const job of jobs) if (job.tmp) rmSync(job.tmp, { force: true });
      throw fatal;
    }
  } finally {
    await pool?.close();
  }

  // 4. Links, after every file and folder, so nothing is written through one.
  const t2 = performance.now();
  let symlinks = 0;
  for (const it of items) {
    if (it.rec.type !== 'symlink') continue;
    try {
      if (force) {
        const tmp = tempName(it.target);
        symlinkSync(it.rec.target, tmp);
        renameSync(tmp, it.target);
      } else {
        symlinkSync(it.rec.target, it.target);
      }
      const t = it.rec.mtimeMs / 1000;
      lutimesSync(it.target, t, t);
      symlinks++;
    } catch (err) {
      failures.push({
        set: it.set,
        path: it.rec.path,
        message: `link cannot be created: ${(err as Error).message}`,
      });
    }
  }

  // 5. Folder modes and times (of the folders the manifest lists and the selection took), deepest first.
  for (const it of [...dirs].sort((a, b) => b.target.length - a.target.length)) {
    if (it.rec.type !== 'dir') continue;
    chmodSync(it.target, it.rec.mode & 0o777);
    const t = it.rec.mtimeMs / 1000;
    utimesSync(it.target, t, t);
  }
  failures.sort((a, b) => (a.set === b.set ? (a.path < b.path ? -1 : 1) : a.set < b.set ? -1 : 1));
  // 6. On disk before we say so (syncfs, or fsync of each file and folder).
  const t3 = performance.now();
  await makeTreeDurable(
    root,
    jobs.filter((j) => !j.failed).map((j) => j.target),
    early,
  );
  const ms = (a: number, b: number) => Math.round(b - a);
  return {
    files: jobs.filter((j) => !j.failed).length,
    dirs: dirs.length,
    symlinks,
    bytes,
    verified,
    failures,
    phases: {
      checkAndFoldersMs: ms(t0, t1),
      filesMs: ms(t1, t2),
      linksAndFoldersMs: ms(t2, t3),
      syncMs: ms(t3, performance.now()),
    },
  };
}

function sha256hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function tempName(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target).slice(0, 200)}.${randomBytes(6).toString('hex')}.restoring`,
  );
}

function noSpace(root: string, err: unknown): SafetynetError {
  return new SafetynetError('E_NO_SPACE', `the restore target ${root} is full`, {
    hint: 'free space on the target disk or restore elsewhere with --to; files already restored are complete and verified',
    cause: err,
    exitCode: 3,
  });
}

/** Writes all of `data` to a new file descriptor at `position`. */
function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** Sets mode and times on an open file (before it takes its final name). */
function finishFd(fd: number, rec: FileRecord): void {
  fchmodSync(fd, rec.mode & 0o777);
  const t = rec.mtimeMs / 1000;
  futimesSync(fd, t, t);
}

/** A verified single-blob file: straight to its name (O_EXCL) or, with force, via a temp name. */
function writeWhole(job: FileJob, data: Uint8Array, force: boolean): void {
  const name = force ? tempName(job.target) : job.target;
  if (force) job.tmp = name;
  const fd = openSync(name, CREATE_FLAGS, 0o600);
  try {
    writeAll(fd, data, 0);
    finishFd(fd, job.rec);
  } catch (err) {
    closeSync(fd);
    rmSync(name, { force: true });
    throw err;
  }
  closeSync(fd);
  if (force) {
    renameSync(name, job.target);
    job.tmp = undefined;
  }
}

function finishEmpty(job: FileJob, force: boolean, fail: (job: FileJob, message: string) => void): void {
  if (job.rec.sha256 !== sha256hex(Buffer.alloc(0))) {
    fail(job, 'an empty file whose SHA-256 in the manifest is not that of empty content');
    return;
  }
  try {
    writeWhole(job, Buffer.alloc(0), force);
  } catch (err) {
    fail(job, `cannot be written: ${(err as Error).message}`);
  }
}

/** All parts written: hash the whole file, then give it its name (never replacing without force). */
function finishParts(job: FileJob, force: boolean, fail: (job: FileJob, message: string) => void): boolean {
  const tmp = job.tmp!;
  const fd = openSync(tmp, fsc.O_RDWR | fsc.O_NOFOLLOW);
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    if (pos !== job.rec.size || h.digest('hex') !== job.rec.sha256) {
      closeSync(fd);
      fail(job, 'the reassembled file does not match the SHA-256 in the manifest');
      return false;
    }
    finishFd(fd, job.rec);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  closeSync(fd);
  if (force) renameSync(tmp, job.target);
  else {
    linkSync(tmp, job.target); // fails with EEXIST rather than replace anything
    unlinkSync(tmp);
  }
  job.tmp = undefined;
  return true;
}

export interface CheckFilesResult {
  ok: boolean;
  point: string;
  /** Files restored and checked. */
  checked: number;
  bytes: number;
  failures: RestoreFailure[];
  durationMs: number;
}

/**
 * The monthly restore test's files half: restores `sample` random files (or all) of `entry` into
 * a fresh folder under `scratchDir`, checks every SHA-256, and removes the folder. Takes a shared
 * repository lock unless `locked`.
 */
export async function checkFilesPoint(
  deps: BackupDeps,
  entry: CatalogEntry,
  opts: { sample?: number | 'all'; scratchDir: string; locked?: boolean; signal?: AbortSignal },
): Promise<CheckFilesResult> {
  const started = deps.clock.now();
  const lock = opts.locked ? undefined : await deps.repo.lock('restore test files', false);
  const dir = path.join(opts.scratchDir, `files-check-${entry.id}-${randomBytes(4).toString('hex')}`);
  try {
    const point = await loadFilesPoint(deps.repo, entry);
    const files: { set: string; rec: EntryRecord }[] = [];
    for (const s of point.sets)
      for (const rec of s.entries) if (rec.type === 'file') files.push({ set: s.record.name, rec });
    const sample = opts.sample ?? 'all';
    if (sample !== 'all' && sample < files.length) {
      // Partial Fisher-Yates: `sample` distinct files, uniformly.
      for (let i = 0; i < sample; i++) {
        const j = i + randomInt(files.length - i);
        [files[i], files[j]] = [files[j]!, files[i]!];
      }
      files.length = Math.max(0, sample);
    }
    if (files.length === 0)
      return {
        ok: true,
        point: entry.id,
        checked: 0,
        bytes: 0,
        failures: [],
        durationMs: deps.clock.now() - started,
      };
    const root = prepareTarget(dir);
    const r = await restoreItems(
      deps,
      root,
      files.map((f) => ({ set: f.set, rec: f.rec, target: targetPath(root, f.set, f.rec.path) })),
      false,
      opts.signal,
    );
    const out: CheckFilesResult = {
      ok: r.failures.length === 0,
      point: entry.id,
      checked: r.verified,
      bytes: r.bytes,
      failures: r.failures,
      durationMs: deps.clock.now() - started,
    };
    const details = {
      point: entry.id,
      checked: out.checked,
      bytes: out.bytes,
      failures: out.failures.slice(0, 50),
      durationMs: out.durationMs,
    };
    if (out.ok)
      await deps.log.info(
        `files restore check of ${entry.id}: ${out.checked} files restored, every SHA-256 verified`,
        { details },
      );
    else
      await deps.log.error(`files restore check of ${entry.id}: ${out.failures.length} file(s) failed`, {
        details,
      });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await lock?.release();
  }
}
