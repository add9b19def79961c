/**
 * The local cache that makes file backups incremental: for each set, the files of the last point
 * (path, size, mtime, ctime, inode, SHA-256, where their blobs live), and an index from blob id to
 * (pack, offset, length) for deduplication. It lives in `<backup.stateDir>/files/<repositoryId>.json`
 * and is never needed to restore.
 *
 * It is only a hint: at the start of every backup, every pack it names is checked against the
 * packs the repository's visible points list, and anything in a pack that is gone (pruned) is
 * dropped, so a stale cache can cost a re-read but never a reference to missing content.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../../util/fs.js';
import type { BlobRef } from './manifest.js';

export const FILES_CACHE_FORMAT = 1;

export interface BlobLocation {
  pack: string;
  offset: number;
  length: number;
}

export interface CachedFile {
  size: number;
  mode: number;
  /** Nanosecond times and inode as decimal strings (exact, unlike doubles). */
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  sha256: string;
  blobs: BlobRef[];
}

export interface CachedSet {
  root: string;
  pointId: string;
  files: Map<string, CachedFile>;
}

export interface FilesCache {
  repoId: string;
  keyId: string;
  blobs: Map<string, BlobLocation>;
  sets: Map<string, CachedSet>;
}

/** On-disk form: pack keys are listed once and referred to by index. */
interface CacheFileV1 {
  format: 1;
  repoId: string;
  keyId: string;
  packs: string[];
  /** blob id -> [pack index, offset, length] */
  blobs: Record<string, [number, number, number]>;
  sets: Record<
    string,
    {
      root: string;
      pointId: string;
      /** path -> [size, mode, mtimeNs, ctimeNs, ino, sha256, blobs: [pack index, offset, length, sha256?][]] */
      files: Record<
        string,
        [number, number, string, string, string, string, [number, number, number, string?][]]
      >;
    }
  >;
}

export function cacheFile(stateDir: string, repoId: string): string {
  return path.join(stateDir, 'files', `${repoId}.json`);
}

export function emptyCache(repoId: string, keyId: string): FilesCache {
  return { repoId, keyId, blobs: new Map(), sets: new Map() };
}

/**
 * Loads the cache for repository `repoId` made with blob key `keyId`; undefined when it is missing,
 * unreadable, or was made for another repository or key (the caller then rebuilds or starts empty).
 */
export async function loadCache(
  stateDir: string,
  repoId: string,
  keyId: string,
): Promise<FilesCache | undefined> {
  let raw: string;
  try {
    raw = await fsp.readFile(cacheFile(stateDir, repoId), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const c = JSON.parse(raw) as CacheFileV1;
    if (c.format !== FILES_CACHE_FORMAT || c.repoId !== repoId || c.keyId !== keyId) return undefined;
    const packAt = (i: number): string => {
      const p = c.packs[i];
      if (typeof p !== 'string') throw new Error('bad pack index');
      return p;
    };
    const cache = emptyCache(repoId, keyId);
    for (const [id, [p, offset, length]] of Object.entries(c.blobs))
      cache.blobs.set(id, { pack: packAt(p), offset, length });
    for (const [name, s] of Object.entries(c.sets)) {
      const files = new Map<string, CachedFile>();
      for (const [rel, [size, mode, mtimeNs, ctimeNs, ino, sha256, blobs]] of Object.entries(s.files)) {
        files.set(rel, {
          size,
          mode,
          mtimeNs,
          ctimeNs,
          ino,
          sha256,
          blobs: blobs.map(([p, offset, length, sha]) => ({
            pack: packAt(p),
            offset,
            length,
            ...(sha ? { sha256: sha } : {}),
          })),
        });
      }
      cache.sets.set(name, { root: s.root, pointId: s.pointId, files });
    }
    return cache;
  } catch {
    return undefined; // damaged: treat as missing
  }
}

/**
 * Drops everything that refers to a pack not in `livePacks`; returns how many blobs and files
 * were dropped.
 */
export function pruneCache(
  cache: FilesCache,
  livePacks: ReadonlySet<string>,
): { blobs: number; files: number } {
  let blobs = 0;
  let files = 0;
  for (const [id, loc] of cache.blobs) {
    if (!livePacks.has(loc.pack)) {
      cache.blobs.delete(id);
      blobs++;
    }
  }
  for (const set of cache.sets.values()) {
    for (const [rel, f] of set.files) {
      if (f.blobs.some((b) => !livePacks.has(b.pack))) {
        set.files.delete(rel);
        files++;
      }
    }
  }
  return { blobs, files };
}

/** Writes the cache atomically. */
export async function saveCache(stateDir: string, cache: FilesCache): Promise<void> {
  const packs: string[] = [];
  const packIndex = new Map<string, number>();
  const idx = (key: string): number => {
    let i = packIndex.get(key);
    if (i === undefined) {
      i = packs.length;
      packs.push(key);
      packIndex.set(key, i);
    }
    return i;
  };
  const out: CacheFileV1 = {
    format: 1,
    repoId: cache.repoId,
    keyId: cache.keyId,
    packs,
    blobs: {},
    sets: {},
  };
  for (const [id, loc] of cache.blobs) out.blobs[id] = [idx(loc.pack), loc.offset, loc.length];
  for (const [name, s] of cache.sets) {
    const files: CacheFileV1['sets'][string]['files'] = {};
    for (const [rel, f] of s.files) {
      files[rel] = [
        f.size,
        f.mode,
        f.mtimeNs,
        f.ctimeNs,
        f.ino,
        f.sha256,
        f.blobs.map((b) =>
          b.sha256 ? [idx(b.pack), b.offset, b.length, b.sha256] : [idx(b.pack), b.offset, b.length],
        ),
      ];
    }
    out.sets[name] = { root: s.root, pointId: s.pointId, files };
  }
  await writeFileAtomic(cacheFile(stateDir, cache.repoId), JSON.stringify(out));
}
