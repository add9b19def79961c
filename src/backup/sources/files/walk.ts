/**
 * Lists the entries of one file set: regular files, folders and symbolic links under its root,
 * filtered by its include/exclude patterns. Symbolic links are never followed (they are recorded
 * as links), so nothing outside the set's root is ever read; special files (FIFOs, sockets,
 * devices) are skipped with a note. The set's root itself is followed if it is a link: that is
 * the operator's own configuration.
 *
 * Synchronous on purpose: lstat of a cached dentry costs ~2 µs, far less than a round trip
 * through libuv's thread pool, and a walk of 13,000 files takes tens of milliseconds.
 */
import { lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import { isErrno } from '../../../errors.js';
import { PathFilter } from './glob.js';

export type WalkEntryType = 'file' | 'dir' | 'symlink';

export interface WalkEntry {
  /** Path relative to the set's root, "/"-separated. */
  rel: string;
  abs: string;
  type: WalkEntryType;
  stat: BigIntStats;
  /** Symbolic links: the link's text, verbatim. */
  target?: string;
}

/** Something the walk could not take: `special` files are skipped by design, the rest make the point incomplete. */
export interface WalkNote {
  rel: string;
  kind: 'special' | 'unreadable' | 'vanished';
  message: string;
}

export interface WalkResult {
  entries: WalkEntry[];
  notes: WalkNote[];
}

function specialKind(st: BigIntStats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file, folder or link';
}

function errnoText(err: unknown): string {
  return isErrno(err) ? `${err.code}: ${err.message.replace(/^[A-Z]+: /, '')}` : String(err);
}

/**
 * Walks the set rooted at `root` (a folder, or a single file whose entry is its base name).
 * Entries come out sorted by path; folders are included when they hold an included entry or
 * match the patterns themselves.
 */
export function walkFileSet(
  root: string,
  include: readonly string[],
  exclude: readonly string[],
): WalkResult {
  const filter = new PathFilter(include, exclude);
  const entries: WalkEntry[] = [];
  const notes: WalkNote[] = [];
  let rootStat: BigIntStats;
  try {
    rootStat = statSync(root, { bigint: true });
  } catch (err) {
    const kind = isErrno(err, 'ENOENT') ? 'vanished' : 'unreadable';
    notes.push({ rel: '', kind, message: `the set's root ${root} cannot be read (${errnoText(err)})` });
    return { entries, notes };
  }
  if (rootStat.isFile()) {
    const rel = path.basename(root);
    if (filter.includes(rel)) entries.push({ rel, abs: root, type: 'file', stat: rootStat });
    return { entries, notes };
  }
  if (!rootStat.isDirectory()) {
    notes.push({
      rel: '',
      kind: 'special',
      message: `the set's root ${root} is ${specialKind(rootStat)}; skipped`,
    });
    return { entries, notes };
  }

  /** Walks `dirAbs`; returns true when it added anything (so the caller records the folder). */
  const walkDir = (dirAbs: string, dirRel: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(dirAbs);
    } catch (err) {
      const kind = isErrno(err, 'ENOENT') ? 'vanished' : 'unreadable';
      notes.push({ rel: dirRel, kind, message: `folder cannot be listed (${errnoText(err)})` });
      return false;
    }
    names.sort();
    let added = false;
    for (const name of names) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const abs = path.join(dirAbs, name);
      let st: BigIntStats;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch (err) {
        if (!filter.includes(rel) && !filter.shouldDescend(rel)) continue;
        const kind = isErrno(err, 'ENOENT') ? 'vanished' : 'unreadable';
        notes.push({ rel, kind, message: `cannot be examined (${errnoText(err)})` });
        continue;
      }
      if (st.isDirectory()) {
        if (!filter.shouldDescend(rel)) continue;
        const at = entries.length;
        const inner = walkDir(abs, rel);
        if (inner || filter.includes(rel)) {
          // The folder's entry goes before its contents.
          entries.splice(at, 0, { rel, abs, type: 'dir', stat: st });
          added = true;
        }
        continue;
      }
      if (!filter.includes(rel)) continue;
      if (st.isFile()) {
        entries.push({ rel, abs, type: 'file', stat: st });
        added = true;
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = readlinkSync(abs);
        } catch (err) {
          const kind = isErrno(err, 'ENOENT') ? 'vanished' : 'unreadable';
          notes.push({ rel, kind, message: `symbolic link cannot be read (${errnoText(err)})` });
          continue;
        }
        entries.push({ rel, abs, type: 'symlink', stat: st, target });
        added = true;
      } else {
        notes.push({
          rel,
          kind: 'special',
          message: `${specialKind(st)}; skipped (only files, folders and links are backed up)`,
        });
      }
    }
    return added;
  };
  walkDir(root, '');
  return { entries, notes };
}
