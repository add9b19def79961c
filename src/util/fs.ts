/**
 * Small file-system helpers for durable writes: write to a temporary name, fsync, rename, fsync
 * the folder. A crash leaves either the old file or the new one, never a torn one.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Fsyncs a directory so a rename or create inside it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some file systems refuse to fsync directories; the rename is still atomic there. Any other
    // error (EIO above all) means the folder entry may not be on disk: the caller must know.
    if (!fsyncUnsupported(err)) throw err;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Errors that mean "this file system cannot fsync a folder", as opposed to a failed fsync. */
export function fsyncUnsupported(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === 'EINVAL' ||
    code === 'ENOTSUP' ||
    code === 'EOPNOTSUPP' ||
    code === 'ENOSYS' ||
    // Windows: folders cannot be opened or synced this way.
    (process.platform === 'win32' && (code === 'EISDIR' || code === 'EPERM' || code === 'EBADF'))
  );
}

/** A temporary sibling name for `file`, unique per call. */
export function tempSibling(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to `file` atomically and durably (temp + fsync + rename + fsync dir). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempSibling(file);
  const fh = await fsp.open(tmp, 'wx', mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/** True when the path exists (file, folder or link). */
export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}
