/**
 * Object naming in the repository. One place decides every key, so FORMAT.md and the code agree.
 *
 *   safetynet-repository.json              plaintext: format marker, version, id, recipients (public)
 *   catalog/<pointId>_<source>_<kind>.json plaintext catalog entry, written LAST: the commit marker of a point
 *   manifests/<pointId>.age                age(zstd(JSON)): the point's full manifest
 *   data/<pointId>/<part>.age              age(zstd(bytes)): a database point's parts, in order
 *   chunks/<aa>/<chunkId>.age              age(zstd(bytes)): content-addressed file chunks (shared by points)
 *   locks/<lockId>.json                    plaintext lock records (backup, prune, restore, verify …)
 *   instance/<lockId>.json                 plaintext lock record of the one running `safetynet serve`
 *   history/<time>_<kind>_<id>.json        plaintext records of restore tests and drills
 */
import { randomBytes } from 'node:crypto';

export const REPO_CONFIG_KEY = 'safetynet-repository.json';
export const CATALOG_PREFIX = 'catalog/';
export const MANIFEST_PREFIX = 'manifests/';
export const DATA_PREFIX = 'data/';
export const CHUNK_PREFIX = 'chunks/';
export const LOCK_PREFIX = 'locks/';
export const INSTANCE_PREFIX = 'instance/';
export const HISTORY_PREFIX = 'history/';

/** Kinds of restore point. */
export type PointKind = 'full' | 'incremental' | 'files';

/**
 * A new point id: the UTC time to the millisecond plus 6 random hex digits, so ids sort by time
 * and two machines never collide. Example: 20261126T030000123Z-9f3a1c.
 */
export function newPointId(timeMs: number): string {
  const iso = new Date(timeMs).toISOString(); // 2026-11-26T03:00:00.123Z
  const compact = iso.replace(/[-:]/g, '').replace('.', '');
  return `${compact}-${randomBytes(3).toString('hex')}`;
}

const POINT_ID_RE = /^(\d{8}T\d{9}Z)-([0-9a-f]{6})$/;

/** True when `id` has the form newPointId() produces. */
export function isPointId(id: string): boolean {
  return POINT_ID_RE.test(id);
}

export function catalogKey(id: string, source: string, kind: PointKind): string {
  return `${CATALOG_PREFIX}${id}_${source}_${kind}.json`;
}

/** Parses a catalog key back into its parts; undefined for keys that are not catalog entries. */
export function parseCatalogKey(key: string): { id: string; source: string; kind: PointKind } | undefined {
  const m = /^catalog\/(\d{8}T\d{9}Z-[0-9a-f]{6})_([a-z0-9-]+)_(full|incremental|files)\.json$/.exec(key);
  if (!m) return undefined;
  return { id: m[1]!, source: m[2]!, kind: m[3] as PointKind };
}

export function manifestKey(id: string): string {
  return `${MANIFEST_PREFIX}${id}.age`;
}

/** Key of part `index` (0-based) of a database point; zero-padded so keys sort in part order. */
export function dataPartKey(id: string, index: number): string {
  return `${DATA_PREFIX}${id}/${String(index).padStart(6, '0')}.age`;
}

export function chunkKey(chunkId: string): string {
  return `${CHUNK_PREFIX}${chunkId.slice(0, 2)}/${chunkId}.age`;
}

export function lockKey(lockId: string): string {
  return `${LOCK_PREFIX}${lockId}.json`;
}

export function historyKey(timeMs: number, kind: string, id: string): string {
  const compact = new Date(timeMs).toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${HISTORY_PREFIX}${compact}_${kind}_${id}.json`;
}
