/**
 * The sealed manifest of a files restore point, its folder segments, and the checks both pass
 * before a restore trusts them.
 *
 * Two levels, so that an unchanged folder costs nothing in a new point: the manifest lists, per
 * set, the folder *segments* (JSON lists of entries: the files, links and sub-folders directly in
 * one folder, at most SEGMENT_MAX_ENTRIES each); each segment is a blob in a pack like file
 * content, deduplicated by its keyed id, so a point whose folders did not change stores only its
 * small manifest (13,003 files: ~7 kB instead of ~720 kB for a flat list).
 *
 * Anyone holding the public recipients can write well-formed sealed objects, so manifests and
 * segments are input, not truth: paths that could leave the restore target, absurd sizes or
 * offsets, entries outside their segment's folder, and packs the catalog entry does not list are
 * refused before anything is written.
 */
import { SafetynetError } from '../../../errors.js';

export const FILES_MANIFEST_FORMAT = 1;

/** Where one piece of a file's content lives: a byte range of a pack's plaintext. */
export interface BlobRef {
  /** Storage key of the pack ("chunks/ab/<id>.age"). */
  pack: string;
  /** Offset of the blob in the pack's plaintext (decrypted, decompressed). */
  offset: number;
  length: number;
  /** SHA-256 of this blob; present only when the file has more than one blob. */
  sha256?: string;
}

export interface FileRecord {
  path: string;
  type: 'file';
  size: number;
  /** Permission bits (mode & 0o7777) as backed up; restores apply mode & 0o777. */
  mode: number;
  /** Modification time, ms since the epoch (fractional: sub-millisecond precision kept). */
  mtimeMs: number;
  /** SHA-256 of the whole file. */
  sha256: string;
  /** The file's content in order; concatenated they are the file. Empty for an empty file. */
  blobs: BlobRef[];
  /** The file could not be read this time; this is its version from the previous point. */
  previous?: boolean;
}

export interface DirRecord {
  path: string;
  type: 'dir';
  mode: number;
  mtimeMs: number;
}

export interface SymlinkRecord {
  path: string;
  type: 'symlink';
  /** The link's text, verbatim (never followed by backup or restore). */
  target: string;
  mtimeMs: number;
}

export type EntryRecord = FileRecord | DirRecord | SymlinkRecord;

/** Something a backup could not take as it was. */
export interface FileProblem {
  set: string;
  path: string;
  /** changed: modified while being read; vanished: deleted during the run; unreadable: permissions or I/O. */
  problem: 'changed' | 'vanished' | 'unreadable';
  message: string;
  /** The point holds the file's version from the previous point instead. */
  previousVersionKept?: boolean;
}

/** Entries skipped by design (FIFOs, sockets, devices). */
export interface SkippedEntry {
  set: string;
  path: string;
  reason: string;
}

/** A segment's place: a blob (JSON) in a pack, like file content. */
export interface SegmentRef {
  /** The folder whose direct entries the segment lists ('' = the set's root). */
  folder: string;
  pack: string;
  offset: number;
  length: number;
  /** SHA-256 of the segment's JSON bytes. */
  sha256: string;
  /** Number of entries in it. */
  entries: number;
}

/** A segment's content (the blob, UTF-8 JSON). */
export interface Segment {
  folder: string;
  /** Direct entries of `folder`, paths relative to the set's root. */
  entries: EntryRecord[];
}

/** A folder with more direct entries than this is split into several segments (appends then rewrite only the last). */
export const SEGMENT_MAX_ENTRIES = 1000;

export interface SetRecord {
  name: string;
  /** Where the set lived when it was backed up (informational). */
  root: string;
  include: string[];
  exclude: string[];
  files: number;
  bytes: number;
  segments: SegmentRef[];
}

export interface FilesManifest {
  format: number;
  id: string;
  source: 'files';
  kind: 'files';
  time: string;
  set: string | null;
  chunking: { algorithm: string; minBytes: number; avgBytes: number; maxBytes: number };
  sets: SetRecord[];
  problems: FileProblem[];
  skipped: SkippedEntry[];
  stats: Record<string, number>;
  durationMs: number;
  createdBy: { host: string; version: string };
}

/**
 * True when `rel` is a safe relative path: "/"-separated, no empty, "." or ".." segment, not
 * absolute, no NUL, not absurdly long. Backslashes are allowed (legal in POSIX names) because
 * restores only run on POSIX systems, where they are not separators.
 */
export function isSafeRelativePath(rel: unknown): rel is string {
  if (typeof rel !== 'string' || rel.length === 0 || rel.length > 4096) return false;
  if (rel.includes('\0') || rel.startsWith('/')) return false;
  for (const seg of rel.split('/')) {
    if (seg === '' || seg === '.' || seg === '..' || Buffer.byteLength(seg) > 255) return false;
  }
  return true;
}

/** A set name usable as a folder name under the restore target. */
export function isSafeSetName(name: unknown): name is string {
  return typeof name === 'string' && isSafeRelativePath(name) && !name.includes('/');
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const isCount = (n: unknown): n is number =>
  typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_SAFE;
const isHex64 = (s: unknown): s is string => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
const isTime = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

function bad(pointId: string, what: string): SafetynetError {
  return new SafetynetError(
    'E_MANIFEST_INVALID',
    `the manifest of files point ${pointId} is invalid: ${what}`,
    {
      hint: 'the manifest was damaged or forged; nothing was written. Restore another point (`safetynet backups list`) and run `safetynet verify --read-data`',
      exitCode: 1,
      details: { point: pointId },
    },
  );
}

/**
 * Checks a decrypted manifest's shape: format, safe set names, and segment refs inside packs the
 * catalog entry lists (`packs`). Throws E_MANIFEST_INVALID naming the first problem.
 */
export function validateFilesManifest(
  value: unknown,
  pointId: string,
  packs: ReadonlySet<string>,
): FilesManifest {
  const m = value as FilesManifest;
  if (
    !m ||
    typeof m !== 'object' ||
    m.format !== FILES_MANIFEST_FORMAT ||
    m.kind !== 'files' ||
    !Array.isArray(m.sets)
  ) {
    throw bad(pointId, 'it is not a files manifest of format 1');
  }
  const setNames = new Set<string>();
  for (const s of m.sets) {
    if (!s || typeof s !== 'object' || !isSafeSetName(s.name))
      throw bad(pointId, `set name ${JSON.stringify(s?.name)} is not a safe folder name`);
    if (setNames.has(s.name)) throw bad(pointId, `set "${s.name}" appears twice`);
    setNames.add(s.name);
    if (!Array.isArray(s.segments)) throw bad(pointId, `set "${s.name}" has no segment list`);
    for (const g of s.segments) {
      const where = `set "${s.name}", segment of folder ${JSON.stringify(g?.folder)}`;
      if (!g || typeof g !== 'object' || (g.folder !== '' && !isSafeRelativePath(g.folder)))
        throw bad(pointId, `${where}: the folder path is absolute or contains ".."`);
      if (typeof g.pack !== 'string' || !packs.has(g.pack))
        throw bad(
          pointId,
          `${where}: it names pack ${JSON.stringify(g.pack)}, which the point's catalog entry does not list`,
        );
      if (
        !isCount(g.offset) ||
        !isCount(g.length) ||
        g.length === 0 ||
        !isHex64(g.sha256) ||
        !isCount(g.entries)
      )
        throw bad(pointId, `${where}: invalid offset, length, sha256 or count`);
    }
  }
  if (!Array.isArray(m.problems)) m.problems = [];
  if (!Array.isArray(m.skipped)) m.skipped = [];
  return m;
}

/** The folder part of a relative path ('' at the root). */
export function folderOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

/**
 * Checks one decoded segment of set `setName`: every entry is safe, lies directly in the segment's
 * folder, and its blobs lie in listed packs. Throws E_MANIFEST_INVALID.
 */
export function validateSegment(
  value: unknown,
  ref: SegmentRef,
  setName: string,
  pointId: string,
  packs: ReadonlySet<string>,
): Segment {
  const g = value as Segment;
  const at = `set "${setName}", folder ${JSON.stringify(ref.folder)}`;
  if (
    !g ||
    typeof g !== 'object' ||
    g.folder !== ref.folder ||
    !Array.isArray(g.entries) ||
    g.entries.length !== ref.entries
  ) {
    throw bad(pointId, `${at}: the segment does not match its reference`);
  }
  for (const e of g.entries) {
    const where = `${at}, entry ${JSON.stringify((e as { path?: unknown })?.path)}`;
    if (!e || typeof e !== 'object' || !isSafeRelativePath(e.path))
      throw bad(
        pointId,
        `${where}: the path is absolute, empty or contains ".." (it could escape the restore target)`,
      );
    if (folderOf(e.path) !== ref.folder)
      throw bad(pointId, `${where}: it is not directly in the segment's folder`);
    if (!isTime(e.mtimeMs)) throw bad(pointId, `${where}: no valid mtime`);
    if (e.type === 'dir') {
      if (!isCount(e.mode)) throw bad(pointId, `${where}: no valid mode`);
    } else if (e.type === 'symlink') {
      if (
        typeof e.target !== 'string' ||
        e.target.length === 0 ||
        e.target.includes('\0') ||
        e.target.length > 4096
      ) {
        throw bad(pointId, `${where}: invalid link target`);
      }
    } else if (e.type === 'file') {
      if (!isCount(e.size) || !isCount(e.mode) || !isHex64(e.sha256) || !Array.isArray(e.blobs))
        throw bad(pointId, `${where}: size, mode, sha256 or blobs missing`);
      let total = 0;
      for (const b of e.blobs) {
        if (!b || typeof b.pack !== 'string' || !packs.has(b.pack))
          throw bad(
            pointId,
            `${where}: a blob names pack ${JSON.stringify(b?.pack)}, which the point's catalog entry does not list`,
          );
        if (!isCount(b.offset) || !isCount(b.length) || b.length === 0)
          throw bad(pointId, `${where}: a blob has an invalid offset or length`);
        if (e.blobs.length > 1 && !isHex64(b.sha256))
          throw bad(pointId, `${where}: a blob of a multi-blob file has no sha256`);
        total += b.length;
      }
      if (total !== e.size)
        throw bad(pointId, `${where}: its blobs add up to ${total} bytes, not its size ${e.size}`);
    } else {
      throw bad(pointId, `${where}: unknown type`);
    }
  }
  return g;
}

/**
 * Checks the entries of one set taken together: no path twice, and no file or link that is also
 * the folder of another entry (a restore would otherwise have to write through it).
 */
export function checkSetEntries(entries: readonly EntryRecord[], setName: string, pointId: string): void {
  const seen = new Set<string>();
  const leaves = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.path))
      throw bad(pointId, `set "${setName}", entry ${JSON.stringify(e.path)}: listed twice`);
    seen.add(e.path);
    if (e.type !== 'dir') leaves.add(e.path);
  }
  for (const e of entries) {
    for (let f = folderOf(e.path); f !== ''; f = folderOf(f)) {
      if (leaves.has(f))
        throw bad(
          pointId,
          `set "${setName}", entry ${JSON.stringify(e.path)}: its folder ${JSON.stringify(f)} is listed as a file or link`,
        );
    }
  }
}
