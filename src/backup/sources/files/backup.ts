/**
 * `backup files`: one restore point covering every configured file set (or the named ones).
 *
 * Incremental: a file whose size, mtime, ctime and inode equal those in the local cache of the
 * last point is not read again; its blobs are referenced. Deduplicated: every chunk gets a keyed
 * id (HMAC-SHA-256), and a chunk already stored anywhere in a live pack is referenced, not stored.
 * New chunks go into ~16 MiB packs. Files that change while read, vanish or cannot be read are
 * reported by name; the point is still committed, marked incomplete, and keeps the previous
 * version of a file that could not be read when there is one.
 *
 * Write order (crash safety): packs, then the sealed manifest, then the catalog entry (by the
 * repository's PointWriter); the local cache last. An interrupted run leaves no visible point,
 * and a cache that is behind the repository is harmless (it is checked against the catalog).
 */
import { throwIfStopped } from '../../../util/abort.js';
import { existsSync, type BigIntStats } from 'node:fs';
import { SafetynetError, UsageError } from '../../../errors.js';
import type { FileSetConfig } from '../../../config/types.js';
import type { BackupDeps } from '../../context.js';
import { newPointId } from '../../repo/layout.js';
import { pointTimeAfter } from '../../repo/point-time.js';
import { createdBy } from '../../repo/repository.js';
import type { CatalogEntry, ObjectRef } from '../../repo/types.js';
import { loadOrCreateBlobKey, sha256, type BlobKey } from './blob-key.js';
import {
  emptyCache,
  loadCache,
  pruneCache,
  saveCache,
  type BlobLocation,
  type CachedFile,
  type FilesCache,
} from './cache.js';
import { CHUNK_AVG_BYTES, CHUNK_MAX_BYTES, CHUNK_MIN_BYTES } from './chunker.js';
import {
  FILES_MANIFEST_FORMAT,
  type EntryRecord,
  type FileProblem,
  type FilesManifest,
  type SetRecord,
  type Segment,
  type SegmentRef,
  SEGMENT_MAX_ENTRIES,
  folderOf,
  type SkippedEntry,
} from './manifest.js';
import { Packer, PointObjects } from './packer.js';
import { loadFilesPoint } from './point-reader.js';
import { FILES_SOURCE, filesPoints, livePacks, newestPerSet } from './points.js';
import { readFileAsBlobs, yieldToEventLoop, type BlobSink, type ReadHooks } from './reader.js';
import { walkFileSet, type WalkEntry } from './walk.js';

export interface BackupFilesOptions {
  /** Back up only these sets (names from backup.files); default every configured set. */
  sets?: string[];
  /** Restore-point set id shared with the database point of the same `backup all` run. */
  set?: string | null;
  /** The moment the point represents (ms); default now. `backup all` passes its shared time. */
  time?: number;
  /** The caller already holds the repository's exclusive lock (`backup all`). */
  locked?: boolean;
  /** Tests only: change the file system at exact moments of a read. */
  hooks?: ReadHooks;
  /** Stops the backup between files (serve's SIGTERM); no point is left. */
  signal?: AbortSignal;
}

export interface FilesBackupStats {
  sets: number;
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes of all files in the point. */
  bytes: number;
  filesUnchanged: number;
  filesRead: number;
  bytesRead: number;
  /** File content: chunks stored, and chunks (and their bytes) found stored already. */
  blobsNew: number;
  blobsDeduplicated: number;
  bytesDeduplicated: number;
  /** Folder segments (file lists) stored, and reused unchanged. */
  segmentsNew: number;
  segmentsReused: number;
  /** New packs of file content and of segments. */
  packsNew: number;
  segmentPacksNew: number;
  /** Packs the point references (new and older ones). */
  packsReferenced: number;
  /** Plaintext bytes of the new packs. */
  packedBytes: number;
  /** Bytes this point added to the repository (new packs + manifest). */
  storedBytes: number;
  durationMs: number;
  /** How the dedup index started: from the local cache, rebuilt from manifests, or empty. */
  indexSource: 'cache' | 'rebuilt' | 'empty';
}

export interface BackupFilesResult {
  entry: CatalogEntry;
  problems: FileProblem[];
  skipped: SkippedEntry[];
  /** Default sets skipped because their folder does not exist. */
  missingSets: string[];
  stats: FilesBackupStats;
}

/** Chooses the configured sets to back up; unknown names are a usage error. */
export function chooseSets(all: readonly FileSetConfig[], names?: readonly string[]): FileSetConfig[] {
  if (!names || names.length === 0) return [...all];
  const out: FileSetConfig[] = [];
  for (const n of names) {
    const s = all.find((f) => f.name === n);
    if (!s) {
      throw new UsageError('E_UNKNOWN_FILE_SET', `there is no file set named "${n}"`, {
        hint: all.length
          ? `use one of: ${all.map((f) => f.name).join(', ')} (backup.files in the config)`
          : 'configure backup.files in the config',
      });
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/** Between synchronous reads, let the event loop run about this often (stores packs, worker results). */
const YIELD_EVERY_BYTES = 4 * 1024 * 1024;

const mtimeMsOf = (st: BigIntStats): number => Number(st.mtimeNs) / 1e6;

function sameAsCached(st: BigIntStats, c: CachedFile): boolean {
  return (
    st.size === BigInt(c.size) &&
    String(st.mtimeNs) === c.mtimeNs &&
    String(st.ctimeNs) === c.ctimeNs &&
    String(st.ino) === c.ino
  );
}

/**
 * Rebuilds the dedup index from the newest point of each set when the identity is available (the
 * local cache was lost or made with another key). Files will be read again, but content already
 * in the repository is not stored again.
 */
async function rebuildIndex(
  deps: BackupDeps,
  key: BlobKey,
  points: CatalogEntry[],
  cache: FilesCache,
): Promise<boolean> {
  const repo = deps.repo;
  if (!repo.hasIdentityConfigured || filesPoints(points).length === 0) return false;
  try {
    await repo.identities();
  } catch {
    return false; // identity file missing or unreadable: just store again
  }
  const seen = new Set<string>();
  for (const entry of newestPerSet(points).values()) {
    if (seen.has(entry.id)) continue;
    seen.add(entry.id);
    const point = await loadFilesPoint(repo, entry);
    for (const s of point.sets) {
      for (const g of s.record.segments)
        cache.blobs.set(key.blobId(g.sha256), { pack: g.pack, offset: g.offset, length: g.length });
      for (const e of s.entries) {
        if (e.type !== 'file') continue;
        for (const b of e.blobs) {
          const sha = e.blobs.length > 1 ? b.sha256! : e.sha256;
          cache.blobs.set(key.blobId(sha), { pack: b.pack, offset: b.offset, length: b.length });
        }
      }
    }
  }
  return true;
}

/** One file to read, and where its record goes. */
interface ReadJob {
  set: FileSetConfig;
  entry: WalkEntry;
  slot: number;
  records: EntryRecord[];
  cached?: CachedFile;
  newFiles: Map<string, CachedFile>;
}

/**
 * Backs up the configured file sets into one files restore point. The point is committed even
 * when some files could not be read (then `entry.incomplete` is true and `problems` names them).
 */
export async function backupFiles(
  deps: BackupDeps,
  opts: BackupFilesOptions = {},
): Promise<BackupFilesResult> {
  try {
    return await runBackup(deps, opts);
  } catch (err) {
    // Every run leaves a `backup` log entry, also one that fails before it starts (lock, config).
    await deps.log.error('files backup failed; no restore point was written', {
      details: {
        error: err instanceof Error ? err.message : String(err),
        code: (err as { code?: string }).code,
        sets: opts.sets ?? null,
      },
    });
    throw err;
  }
}

async function runBackup(deps: BackupDeps, opts: BackupFilesOptions): Promise<BackupFilesResult> {
  const { repo, config, clock } = deps;
  const started = clock.now();
  const sets = chooseSets(config.backup.files, opts.sets);
  repo.recipients(); // fail before any work when nothing can be encrypted
  const missingSets: string[] = [];
  /** Configured (not default) sets whose folder is gone: a problem of the point, never silently skipped. */
  const missingConfigured: FileSetConfig[] = [];
  const present: FileSetConfig[] = [];
  for (const s of sets) {
    const exists = existsSync(s.path); // follows a root that is a link: the operator configured it
    if (!exists && s.isDefault) missingSets.push(s.name);
    else if (!exists) missingConfigured.push(s);
    else present.push(s);
  }
  if (present.length === 0) {
    throw new SafetynetError(
      'E_NO_FILE_SETS',
      `none of the file sets (${sets.map((s) => `${s.name}: ${s.path}`).join(', ')}) exists`,
      {
        hint: 'create the folders or configure backup.files with the folders to back up',
        exitCode: 2,
      },
    );
  }

  await repo.prepareForWrite();
  const lock = opts.locked
    ? undefined
    : await repo.lock('backup files', true, (l) => {
        void deps.log.warn(
          `removed a stale repository lock left by pid ${l.pid} on ${l.host} (${l.purpose}, since ${l.createdAt})`,
          {
            details: { lock: l },
          },
        );
      });
  try {
    const repoConfig = await repo.ensureInitialized();
    const key = await loadOrCreateBlobKey(repo.stateDir);
    const points = await repo.listPoints();
    const live = livePacks(points);
    let indexSource: FilesBackupStats['indexSource'] = 'cache';
    let cache = await loadCache(repo.stateDir, repoConfig.id, key.id);
    if (!cache) {
      cache = emptyCache(repoConfig.id, key.id);
      indexSource = (await rebuildIndex(deps, key, points, cache)) ? 'rebuilt' : 'empty';
    }
    pruneCache(cache, new Set(live.keys()));

    const time =
      opts.time ??
      pointTimeAfter(
        points.filter((p) => p.source === FILES_SOURCE),
        started,
      );
    const pointId = newPointId(time);
    const writer = repo.beginPoint({
      id: pointId,
      source: FILES_SOURCE,
      kind: 'files',
      time,
      parent: null,
      set: opts.set ?? null,
    });
    const objects = new PointObjects(writer);
    const packer = new Packer(objects);
    // Folder segments go to packs of their own: small, so a restore reads file lists cheaply.
    const segmentPacker = new Packer(objects);
    const problems: FileProblem[] = missingConfigured.map((m) => ({
      set: m.name,
      path: '.',
      problem: 'vanished' as const,
      message: `the file set's folder ${m.path} does not exist`,
    }));
    const skipped: SkippedEntry[] = [];
    const stats: FilesBackupStats = {
      sets: present.length,
      files: 0,
      dirs: 0,
      symlinks: 0,
      bytes: 0,
      filesUnchanged: 0,
      filesRead: 0,
      bytesRead: 0,
      blobsNew: 0,
      blobsDeduplicated: 0,
      bytesDeduplicated: 0,
      segmentsNew: 0,
      segmentsReused: 0,
      packsNew: 0,
      segmentPacksNew: 0,
      packsReferenced: 0,
      packedBytes: 0,
      storedBytes: 0,
      durationMs: 0,
      indexSource,
    };
    const index = cache.blobs;
    const referenceOld = (pack: string) => {
      const ref: ObjectRef | undefined = live.get(pack);
      if (ref) objects.reference(ref);
    };
    /** A chunk with this keyed id is stored already (in an old pack or earlier in this run)? */
    const stored = (sha: Buffer, length: number): BlobLocation | undefined => {
      const known = index.get(key.blobId(sha));
      if (!known) return undefined;
      referenceOld(known.pack);
      stats.blobsDeduplicated++;
      stats.bytesDeduplicated += length;
      return known;
    };
    /** Stores a chunk of a large file unless it is stored already. */
    const storeChunk = async (data: Buffer, sha: Buffer): Promise<BlobLocation> => {
      const known = stored(sha, data.length);
      if (known) return known;
      const loc = await packer.append(data);
      index.set(key.blobId(sha), loc);
      stats.blobsNew++;
      return loc;
    };
    /** Stores a folder segment unless the same bytes are stored already. */
    const storeSegment = async (data: Buffer, sha: Buffer): Promise<BlobLocation> => {
      const known = index.get(key.blobId(sha));
      if (known) {
        referenceOld(known.pack);
        stats.segmentsReused++;
        return known;
      }
      const loc = await segmentPacker.append(data);
      index.set(key.blobId(sha), loc);
      stats.segmentsNew++;
      return loc;
    };
    const sink: BlobSink = {
      reserve: (size) => packer.reserve(size),
      keepReserved(size, sha) {
        const known = stored(sha, size);
        if (known) return known;
        const loc = packer.keep(size);
        index.set(key.blobId(sha), loc);
        stats.blobsNew++;
        return loc;
      },
      chunk: storeChunk,
    };

    try {
      const setRecords: { set: FileSetConfig; records: EntryRecord[] }[] = [];
      const jobs: ReadJob[] = [];
      const newSetFiles = new Map<string, Map<string, CachedFile>>();
      for (const set of present) {
        const walked = walkFileSet(set.path, set.include, set.exclude);
        for (const n of walked.notes) {
          if (n.kind === 'special') skipped.push({ set: set.name, path: n.rel, reason: n.message });
          else problems.push({ set: set.name, path: n.rel, problem: n.kind, message: n.message });
        }
        const cachedSet = cache.sets.get(set.name);
        const cachedFiles = cachedSet && cachedSet.root === set.path ? cachedSet.files : undefined;
        const newFiles = new Map<string, CachedFile>();
        newSetFiles.set(set.name, newFiles);
        const records: EntryRecord[] = new Array<EntryRecord>(walked.entries.length);
        walked.entries.forEach((e, slot) => {
          const mtimeMs = mtimeMsOf(e.stat);
          if (e.type === 'dir') {
            records[slot] = { path: e.rel, type: 'dir', mode: Number(e.stat.mode) & 0o7777, mtimeMs };
            stats.dirs++;
            return;
          }
          if (e.type === 'symlink') {
            records[slot] = { path: e.rel, type: 'symlink', target: e.target!, mtimeMs };
            stats.symlinks++;
            return;
          }
          const cached = cachedFiles?.get(e.rel);
          if (cached && sameAsCached(e.stat, cached)) {
            for (const b of cached.blobs) referenceOld(b.pack);
            records[slot] = {
              path: e.rel,
              type: 'file',
              size: cached.size,
              mode: Number(e.stat.mode) & 0o7777,
              mtimeMs,
              sha256: cached.sha256,
              blobs: cached.blobs,
            };
            newFiles.set(e.rel, cached);
            stats.filesUnchanged++;
            return;
          }
          jobs.push({ set, entry: e, slot, records, newFiles, ...(cached ? { cached } : {}) });
        });
        setRecords.push({ set, records });
      }

      deps.progress.start(
        'reading files',
        jobs.reduce((n, j) => n + Number(j.entry.stat.size), 0),
      );
      // One lane: files are read synchronously into the open pack (see reader.ts); between files the
      // event loop runs, so sealed packs are stored while the next files are read.
      let sinceYield = 0;
      for (const job of jobs) {
        throwIfStopped(opts.signal, 'files backup', 'no restore point was created');
        const { entry: e, set } = job;
        const out = await readFileAsBlobs(e.abs, sink, opts.hooks);
        stats.bytesRead += out.bytesRead;
        sinceYield += out.bytesRead + 4096;
        if (sinceYield >= YIELD_EVERY_BYTES) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
        deps.progress.advance(Number(e.stat.size));
        if (out.ok) {
          stats.filesRead++;
          const st = out.stat;
          const size = Number(st.size);
          job.records[job.slot] = {
            path: e.rel,
            type: 'file',
            size,
            mode: Number(st.mode) & 0o7777,
            mtimeMs: mtimeMsOf(st),
            sha256: out.sha256,
            blobs: out.blobs,
          };
          job.newFiles.set(e.rel, {
            size,
            mode: Number(st.mode) & 0o7777,
            mtimeNs: String(st.mtimeNs),
            ctimeNs: String(st.ctimeNs),
            ino: String(st.ino),
            sha256: out.sha256,
            blobs: out.blobs,
          });
          continue;
        }
        const prev = out.problem !== 'vanished' ? job.cached : undefined;
        problems.push({
          set: set.name,
          path: e.rel,
          problem: out.problem,
          message: out.message,
          ...(prev ? { previousVersionKept: true } : {}),
        });
        if (prev) {
          for (const b of prev.blobs) referenceOld(b.pack);
          job.records[job.slot] = {
            path: e.rel,
            type: 'file',
            size: prev.size,
            mode: prev.mode,
            mtimeMs: Number(prev.mtimeNs) / 1e6,
            sha256: prev.sha256,
            blobs: prev.blobs,
            previous: true,
          };
          job.newFiles.set(e.rel, prev);
        }
      }
      deps.progress.done();
      await packer.flush();
      throwIfStopped(opts.signal, 'files backup', 'no restore point was created');

      const sets: SetRecord[] = [];
      for (const { set, records } of setRecords) {
        // Drop the slots of files that vanished or could not be read (no earlier version).
        const entries = records.filter((r) => r !== undefined);
        const record: SetRecord = {
          name: set.name,
          root: set.path,
          include: set.include,
          exclude: set.exclude,
          files: 0,
          bytes: 0,
          segments: [],
        };
        for (const r of entries) {
          if (r.type === 'file') {
            record.files++;
            record.bytes += r.size;
          }
        }
        record.segments = await storeSegments(entries, storeSegment);
        stats.files += record.files;
        stats.bytes += record.bytes;
        sets.push(record);
      }
      await segmentPacker.flush();
      await writer.drain();
      stats.packsNew = packer.newPacks;
      stats.segmentPacksNew = segmentPacker.newPacks;
      stats.packedBytes = packer.newPackPlainBytes + segmentPacker.newPackPlainBytes;
      stats.packsReferenced = objects.size;
      problems.sort((a, b) => (a.set === b.set ? (a.path < b.path ? -1 : 1) : a.set < b.set ? -1 : 1));

      const manifest: FilesManifest = {
        format: FILES_MANIFEST_FORMAT,
        id: pointId,
        source: 'files',
        kind: 'files',
        time: new Date(time).toISOString(),
        set: opts.set ?? null,
        chunking: {
          algorithm: 'fastcdc-gear32',
          minBytes: CHUNK_MIN_BYTES,
          avgBytes: CHUNK_AVG_BYTES,
          maxBytes: CHUNK_MAX_BYTES,
        },
        sets,
        problems,
        skipped,
        stats: numericStats(stats),
        durationMs: clock.now() - started,
        createdBy: createdBy(),
      };
      const entry = await writer.commit(manifest, {
        logicalBytes: stats.bytes,
        incomplete: problems.length > 0,
        summary: {
          sets: present.map((s) => s.name).join(','),
          files: stats.files,
          filesRead: stats.filesRead,
          bytesRead: stats.bytesRead,
          newPacks: stats.packsNew + stats.segmentPacksNew,
          problems: problems.length,
        },
      });
      stats.storedBytes = entry.storedBytes;
      stats.durationMs = clock.now() - started;

      // The cache follows the repository: only now does it learn about this point.
      for (const [name, files] of newSetFiles) {
        const set = present.find((s) => s.name === name)!;
        cache.sets.set(name, { root: set.path, pointId, files });
      }
      await saveCache(repo.stateDir, cache).catch((err: unknown) => {
        // A cache that cannot be written costs a re-read next time, never data: say so and go on.
        void deps.log.warn(`files backup: the local cache in ${repo.stateDir} could not be written`, {
          details: { error: err instanceof Error ? err.message : String(err) },
        });
      });

      const result: BackupFilesResult = { entry, problems, skipped, missingSets, stats };
      await logResult(deps, result);
      return result;
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } finally {
    await lock?.release();
  }
}

/**
 * Stores a set's entries as folder segments (see manifest.ts): grouped by folder, in walk order
 * (each folder's names sorted, so unchanged folders give byte-identical JSON), split every
 * SEGMENT_MAX_ENTRIES; a segment whose bytes are already stored is referenced, not stored again.
 */
async function storeSegments(
  entries: EntryRecord[],
  store: (bytes: Buffer, sha: Buffer) => Promise<BlobLocation>,
): Promise<SegmentRef[]> {
  const byFolder = new Map<string, EntryRecord[]>();
  for (const e of entries) {
    const f = folderOf(e.path);
    const list = byFolder.get(f);
    if (list) list.push(e);
    else byFolder.set(f, [e]);
  }
  const refs: SegmentRef[] = [];
  for (const folder of [...byFolder.keys()].sort()) {
    const list = byFolder.get(folder)!;
    for (let i = 0; i < list.length; i += SEGMENT_MAX_ENTRIES) {
      const part = list.slice(i, i + SEGMENT_MAX_ENTRIES);
      const segment: Segment = { folder, entries: part };
      const bytes = Buffer.from(JSON.stringify(segment));
      const sha = sha256(bytes);
      const loc = await store(bytes, sha);
      refs.push({
        folder,
        pack: loc.pack,
        offset: loc.offset,
        length: loc.length,
        sha256: sha.toString('hex'),
        entries: part.length,
      });
    }
  }
  return refs;
}

function numericStats(s: FilesBackupStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) if (typeof v === 'number') out[k] = v;
  return out;
}

async function logResult(deps: BackupDeps, r: BackupFilesResult): Promise<void> {
  const s = r.stats;
  const details = {
    point: r.entry.id,
    set: r.entry.set,
    sets: r.entry.summary?.sets,
    files: s.files,
    bytes: s.bytes,
    filesRead: s.filesRead,
    filesUnchanged: s.filesUnchanged,
    bytesRead: s.bytesRead,
    packsNew: s.packsNew,
    storedBytes: s.storedBytes,
    durationMs: s.durationMs,
    incomplete: r.problems.length > 0,
    problems: r.problems
      .slice(0, 50)
      .map((p) => ({ set: p.set, path: p.path, problem: p.problem, message: p.message })),
    skipped: r.skipped.slice(0, 50),
    missingSets: r.missingSets,
  };
  if (r.problems.length > 0) {
    await deps.log.warn(
      `files backup ${r.entry.id} is incomplete: ${r.problems.length} file(s) could not be read as they were`,
      { details },
    );
  } else {
    await deps.log.info(
      `files backup ${r.entry.id}: ${s.files} files, ${s.filesRead} read, ${s.storedBytes} bytes stored`,
      { details },
    );
  }
}
