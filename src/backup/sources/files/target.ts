/**
 * Safe writing under a restore target folder.
 *
 * A manifest is untrusted input (anyone with the public recipients can seal one), so besides the
 * path checks of validateFilesManifest, every write here:
 * - resolves to a path inside the target by construction and checks it again (path.relative);
 * - walks the parent folders from the target down with lstat and refuses any that is a symbolic
 *   link or not a folder, so a link (planted by the manifest or already on disk) is never written
 *   through; links from the manifest are created last, after every file and folder;
 * - opens files with O_NOFOLLOW and, without --force, O_EXCL (never replaces anything).
 */
import { constants as fsc, lstatSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { SafetynetError, isErrno } from '../../../errors.js';

export const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

export function unsafePath(target: string, why: string): SafetynetError {
  return new SafetynetError('E_RESTORE_UNSAFE_PATH', `refusing to write ${target}: ${why}`, {
    hint: 'restore into an empty folder (--to), or remove the link or file that is in the way',
    exitCode: 2, // the target given is unusable: bad input, as README's exit-code table says
    details: { path: target },
  });
}

/** Joins a safe relative path under `root`; throws if the result is not inside `root`. */
export function targetPath(root: string, ...relParts: string[]): string {
  const full = path.join(root, ...relParts.flatMap((p) => p.split('/')));
  const rel = path.relative(root, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel))
    throw unsafePath(full, 'it is outside the restore target');
  return full;
}

/**
 * Folders under the target: checks existing ones (a real folder, never a link) and creates
 * missing ones, remembering both, so each folder is examined once per restore.
 */
export class FolderGuard {
  private readonly known = new Set<string>();
  /** Folders found missing by a check that did not create them (`ensure(dir, false)`). */
  private readonly absent = new Set<string>();
  /** Folders this restore created (their recorded mode and mtime are applied at the end). */
  readonly created = new Set<string>();

  constructor(private readonly root: string) {
    this.known.add(root);
  }

  /**
   * Checks that every existing folder from the target down to `dir` is a real folder; creates the
   * rest when `create`. Returns whether `dir` exists now: when it does not, nothing inside it can be
   * in the way, which spares the caller one failing lstat per file (13,000 of them in a fresh
   * restore; a failing call costs a thrown error in Node).
   */
  ensure(dir: string, create: boolean): boolean {
    if (this.known.has(dir)) return true;
    if (!create && this.absent.has(dir)) return false;
    const rel = path.relative(this.root, dir);
    if (rel.startsWith('..') || path.isAbsolute(rel))
      throw unsafePath(dir, 'it is outside the restore target');
    let cur = this.root;
    for (const seg of rel.split(path.sep)) {
      cur = path.join(cur, seg);
      if (this.known.has(cur)) continue;
      let st;
      try {
        st = lstatSync(cur);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        if (!create) {
          // Not there yet: nothing below it can be in the way either.
          this.absent.add(dir);
          return false;
        }
        try {
          mkdirSync(cur, { mode: 0o755 });
          this.created.add(cur);
        } catch (e) {
          if (!isErrno(e, 'EEXIST')) throw e;
        }
        st = lstatSync(cur);
      }
      if (st.isSymbolicLink())
        throw unsafePath(cur, 'it is a symbolic link, and restores never write through links');
      if (!st.isDirectory()) throw unsafePath(cur, 'a file is where a folder must be');
      this.known.add(cur);
    }
    return true;
  }
}
