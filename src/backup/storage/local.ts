/**
 * LocalStorage: the repository as a folder on this machine.
 *
 * Every put writes a temp file in `<root>/.tmp/`, fsyncs it, then renames (or, for ifAbsent,
 * hard-links) it into place and fsyncs the folder: readers see the whole object or nothing, and a
 * crash leaves at most an orphaned temp file (removed by `probe('write')` once it is a day old).
 * Folders that a delete leaves empty are removed at once, so pruning does not leave thousands of
 * empty fan-out folders behind; a put that races with such a removal recreates its folder.
 *
 * The root folder is never created implicitly by put: if it is missing (an unmounted disk, a typo)
 * operations fail with E_STORAGE_NO_FOLDER instead of quietly writing backups somewhere else.
 * `probe('write')` creates it on purpose.
 */
import { promises as fsp, type Dirent } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { StorageError, isErrno } from '../../errors.js';
import { systemClock, type Clock } from '../../clock.js';
import { fsyncDir } from '../../util/fs.js';
import {
  StorageCode,
  assertValidRange,
  objectExists,
  objectMissing,
  rangeNotSatisfiable,
  sizeMismatch,
} from './errors.js';
import { assertValidKey, assertValidPrefix, compareKeys } from './keys.js';
import type {
  ByteRange,
  DeleteOptions,
  ListOptions,
  ObjectInfo,
  ProbeMode,
  PutBody,
  PutOptions,
  Storage,
  StorageCapabilities,
} from './types.js';

/** Folder (under the root) holding in-flight temp files; "."-names are never listed. */
const TEMP_DIR = '.tmp';
/** Streamed bodies are gathered into writes of about this size (one writev each). */
const WRITE_BATCH_BYTES = 1 << 20;
/** Read size for streams: large reads keep syscalls and event-loop turns low. */
const READ_CHUNK_BYTES = 1 << 20;
/** How many stat() calls a listing keeps in flight within one folder. */
const STAT_CONCURRENCY = 32;

export interface LocalStorageOptions {
  /** Temp files older than this are removed by `probe('write')` (leftovers of a crash). Default 24 h. */
  staleTempMs?: number;
  clock?: Clock;
}

export class LocalStorage implements Storage {
  readonly url: string;
  readonly localPath: string;
  private readonly tempDir: string;
  private readonly staleTempMs: number;
  private readonly clock: Clock;
  /** Cleared when the file system refuses hard links; ifAbsent then degrades to check-then-rename. */
  private linkWorks = true;
  private rootKnown = false;
  private tempDirKnown = false;

  constructor(root: string, options: LocalStorageOptions = {}) {
    if (!path.isAbsolute(root)) {
      throw new StorageError(StorageCode.config, `local repository path "${root}" is not absolute`, {
        hint: 'set backup.repository to an absolute path or file:///absolute/path',
      });
    }
    this.localPath = path.resolve(root);
    this.url = 'file://' + this.localPath;
    this.tempDir = path.join(this.localPath, TEMP_DIR);
    this.staleTempMs = options.staleTempMs ?? 24 * 3600_000;
    this.clock = options.clock ?? systemClock;
  }

  get capabilities(): StorageCapabilities {
    return { atomicCreate: this.linkWorks, local: true };
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    if (body instanceof Uint8Array && options.size !== undefined && options.size !== body.byteLength) {
      throw sizeMismatch(this.url, key, options.size, body.byteLength);
    }
    await this.requireRoot();
    const target = this.pathOf(key);
    // Cheap early refusal: no point writing a large body that cannot be installed.
    if (options.ifAbsent && (await this.isFile(target))) throw objectExists(this.url, key);
    const tmp = await this.newTempPath();
    try {
      await this.writeTemp(tmp, body, key, options.size);
      await this.install(tmp, target, key, options.ifAbsent === true);
    } finally {
      // After a rename the temp name is gone already; after a link or a failure it must go.
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async get(key: string): Promise<Buffer> {
    assertValidKey(key);
    const fh = await this.openObject(key);
    try {
      return await fh.readFile();
    } catch (err) {
      throw this.fsError(err, 'reading', key);
    } finally {
      await fh.close();
    }
  }

  async getInto(key: string, dest: Uint8Array): Promise<number> {
    assertValidKey(key);
    const fh = await this.openObject(key);
    try {
      const { size } = await fh.stat();
      const want = Math.min(size, dest.length);
      let done = 0;
      while (done < want) {
        const { bytesRead } = await fh.read(dest, done, want - done, done);
        if (bytesRead === 0) break; // shrank while read: the caller's size check catches it
        done += bytesRead;
      }
      return done < want ? done : size;
    } catch (err) {
      throw this.fsError(err, 'reading', key);
    } finally {
      await fh.close();
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    assertValidKey(key);
    if (range) assertValidRange(range);
    const fh = await this.openObject(key);
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (err) {
      await fh.close();
      throw this.fsError(err, 'reading', key);
    }
    const start = range?.start ?? 0;
    if (range && start >= size) {
      await fh.close();
      throw rangeNotSatisfiable(this.url, key, start, size);
    }
    const end = Math.min(range?.end ?? size - 1, size - 1);
    if (end < start) {
      // An empty object read whole.
      await fh.close();
      return (async function* () {})();
    }
    const stream = fh.createReadStream({ start, end, highWaterMark: READ_CHUNK_BYTES, autoClose: true });
    const mapError = (err: unknown) => this.fsError(err, 'reading', key);
    return (async function* () {
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } catch (err) {
        throw mapError(err);
      } finally {
        stream.destroy();
      }
    })();
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const st = await fsp.stat(this.pathOf(key));
      if (!st.isFile()) return undefined;
      return { key, size: st.size, lastModified: st.mtimeMs };
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        await this.requireRoot(true); // a vanished root (unmounted disk) is not "no such object"
        return undefined;
      }
      throw this.fsError(err, 'reading', key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    // One stat per listing: an empty result must mean "no such objects", not "the disk is gone".
    await this.requireRoot(true);
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.walk(dirKey, prefix.slice(slash + 1), options.startAfter);
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    assertValidKey(key);
    const file = this.pathOf(key);
    try {
      await fsp.unlink(file);
    } catch (err) {
      // Missing, or a folder rather than an object: there is no object to remove.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'EISDIR')) return;
      throw this.fsError(err, 'deleting', key);
    }
    // Only `durable` deletes fsync the folder (catalog entries: a point once removed stays
    // removed). Other deletes undone by a power cut leave an orphan, which is harmless, and a
    // folder fsync per object would make pruning thousands of objects slow.
    if (options.durable) {
      try {
        await fsyncDir(path.dirname(file));
      } catch (err) {
        throw this.fsError(err, 'deleting', key);
      }
    }
    await this.removeEmptyParents(path.dirname(file));
  }

  async probe(mode: ProbeMode = 'write'): Promise<void> {
    let st;
    try {
      st = await fsp.stat(this.localPath);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw this.fsError(err, 'opening the repository folder', undefined);
      if (mode === 'read') throw this.noFolder();
      await this.createRoot();
      st = await fsp.stat(this.localPath);
    }
    if (!st.isDirectory()) {
      throw new StorageError(StorageCode.config, `repository path ${this.localPath} is not a folder`, {
        hint: 'set backup.repository to a folder (it is created when missing), not to a file',
      });
    }
    try {
      await fsp.readdir(this.localPath);
    } catch (err) {
      throw this.fsError(err, 'listing the repository folder', undefined);
    }
    this.rootKnown = true;
    if (mode === 'read') return;
    // Prove a real write: a temp file written, synced, read back and removed.
    const tmp = await this.newTempPath();
    const probe = randomBytes(32);
    try {
      await this.writeTemp(tmp, probe, undefined, probe.length);
      const back = await fsp.readFile(tmp);
      if (!back.equals(probe)) {
        throw new StorageError(StorageCode.io, `a test file written to ${this.tempDir} read back different`, {
          hint: 'the disk or file system holding the repository is faulty: check `dmesg` and the disk',
        });
      }
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
    await this.removeStaleTemp();
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }

  /** Removes temp files older than `staleTempMs` (leftovers of a crash mid-put). Returns how many. */
  async removeStaleTemp(): Promise<number> {
    let names: string[];
    try {
      names = await fsp.readdir(this.tempDir);
    } catch {
      return 0;
    }
    const cutoff = this.clock.now() - this.staleTempMs;
    let removed = 0;
    for (const name of names) {
      const file = path.join(this.tempDir, name);
      try {
        const st = await fsp.lstat(file);
        if (st.mtimeMs < cutoff) {
          await fsp.rm(file, { force: true, recursive: true });
          removed++;
        }
      } catch {
        // Gone meanwhile (finished by its writer): fine.
      }
    }
    return removed;
  }

  // ---- internals -------------------------------------------------------------------------

  private pathOf(key: string): string {
    return path.join(this.localPath, ...key.split('/'));
  }

  private keyOfDir(dirKey: string, name: string): string {
    return dirKey ? `${dirKey}/${name}` : name;
  }

  private noFolder(): StorageError {
    return new StorageError(StorageCode.noFolder, `repository folder ${this.localPath} does not exist`, {
      hint:
        'check that the disk holding it is mounted and that backup.repository is right; ' +
        '`safetynet backup` creates a missing repository folder on purpose',
      details: { repository: this.url },
    });
  }

  /** Fails with E_STORAGE_NO_FOLDER unless the root exists (checked once, or again when `recheck`). */
  private async requireRoot(recheck = false): Promise<void> {
    if (this.rootKnown && !recheck) return;
    try {
      const st = await fsp.stat(this.localPath);
      if (!st.isDirectory()) throw this.noFolder();
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw this.noFolder();
      throw this.fsError(err, 'opening the repository folder', undefined);
    }
    this.rootKnown = true;
  }

  private async createRoot(): Promise<void> {
    try {
      const first = await fsp.mkdir(this.localPath, { recursive: true });
      if (first) await fsyncChain(first, this.localPath);
    } catch (err) {
      throw this.fsError(err, 'creating the repository folder', undefined);
    }
  }

  private async newTempPath(): Promise<string> {
    if (!this.tempDirKnown) {
      try {
        await fsp.mkdir(this.tempDir);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) {
          await this.requireRoot(true);
          throw this.noFolder();
        }
        if (!isErrno(err, 'EEXIST')) throw this.fsError(err, 'creating the temp folder', undefined);
      }
      this.tempDirKnown = true;
    }
    return path.join(this.tempDir, randomBytes(12).toString('hex'));
  }

  /** Writes the body to a fresh temp file and fsyncs it. Errors thrown by the body pass through unchanged. */
  private async writeTemp(tmp: string, body: PutBody, key: string | undefined, size?: number): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(tmp, 'wx', 0o644);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        // The temp folder vanished: the root itself is probably gone (unmounted disk).
        this.tempDirKnown = false;
        await this.requireRoot(true);
      }
      throw this.fsError(err, 'writing', key);
    }
    let written = 0;
    try {
      if (body instanceof Uint8Array) {
        await writeAll(fh, body);
        written = body.byteLength;
      } else {
        written = await writeIterable(fh, body);
      }
      if (size !== undefined && written !== size && key !== undefined) {
        throw sizeMismatch(this.url, key, size, written);
      }
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      if (err instanceof BodyError) throw err.original;
      if (err instanceof StorageError) throw err;
      throw this.fsError(err, 'writing', key, written);
    }
    try {
      await fh.close();
    } catch (err) {
      throw this.fsError(err, 'writing', key, written);
    }
  }

  /** Moves a finished temp file to its key: rename, or link (atomic create) for ifAbsent. */
  private async install(tmp: string, target: string, key: string, ifAbsent: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.ensureParent(target, key);
      try {
        if (ifAbsent && this.linkWorks) {
          await fsp.link(tmp, target);
        } else {
          if (ifAbsent && (await this.isFile(target))) throw objectExists(this.url, key);
          await fsp.rename(tmp, target);
        }
        break;
      } catch (err) {
        if (err instanceof StorageError) throw err;
        if (ifAbsent && isErrno(err, 'EEXIST')) throw objectExists(this.url, key);
        // A delete in the same folder removed it between our mkdir and rename: make it again.
        if (isErrno(err, 'ENOENT') && attempt < 4) continue;
        if (ifAbsent && this.linkWorks && linkUnsupported(err)) {
          this.linkWorks = false;
          continue;
        }
        throw this.fsError(err, 'writing', key);
      }
    }
    try {
      await fsyncDir(path.dirname(target));
    } catch (err) {
      throw this.fsError(err, 'writing', key);
    }
  }

  /** Creates the folders above `target` (below the root), fsyncing each new folder entry. */
  private async ensureParent(target: string, key: string): Promise<void> {
    const dir = path.dirname(target);
    if (dir === this.localPath) return;
    try {
      const first = await fsp.mkdir(dir, { recursive: true });
      if (first) await fsyncChain(first, dir);
    } catch (err) {
      throw this.fsError(err, 'writing', key);
    }
  }

  private async removeEmptyParents(dir: string): Promise<void> {
    while (dir !== this.localPath && dir.startsWith(this.localPath + path.sep)) {
      try {
        await fsp.rmdir(dir);
      } catch {
        return; // Not empty (the usual case), or already gone.
      }
      dir = path.dirname(dir);
    }
  }

  private async isFile(file: string): Promise<boolean> {
    try {
      return (await fsp.stat(file)).isFile();
    } catch {
      return false;
    }
  }

  private async openObject(key: string): Promise<fsp.FileHandle> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.pathOf(key), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'EISDIR')) {
        await this.requireRoot(true);
        throw objectMissing(this.url, key, err);
      }
      throw this.fsError(err, 'reading', key);
    }
    // open() succeeds on a folder: a folder is not an object.
    const st = await fh.stat().catch(() => undefined);
    if (!st?.isFile()) {
      await fh.close();
      throw objectMissing(this.url, key);
    }
    return fh;
  }

  /** Yields the objects below `dirKey` whose names start with `namePrefix`, in byte-wise key order. */
  private async *walk(
    dirKey: string,
    namePrefix: string,
    startAfter: string | undefined,
  ): AsyncIterable<ObjectInfo> {
    const dir = dirKey ? this.pathOf(dirKey) : this.localPath;
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      // No such folder (or deleted while we listed): no objects under it.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw this.fsError(err, 'listing', dirKey || undefined);
    }
    // Sorting "name/" for folders and "name" for files gives exactly the order of the flat keys:
    // every key inside folder "a" starts with "a/".
    const sorted = entries
      .filter(
        (e) => e.name.startsWith(namePrefix) && !e.name.startsWith('.') && (e.isFile() || e.isDirectory()),
      )
      .map((e) => ({ entry: e, sortKey: e.isDirectory() ? e.name + '/' : e.name }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));

    let pending: Dirent[] = [];
    for (const { entry, sortKey } of sorted) {
      const key = this.keyOfDir(dirKey, sortKey);
      if (entry.isDirectory()) {
        // Skip whole folders that lie before startAfter (all their keys start with `key`).
        if (startAfter !== undefined && !startAfter.startsWith(key) && compareKeys(key, startAfter) < 0)
          continue;
        yield* await this.statFiles(dirKey, pending);
        pending = [];
        yield* this.walk(key.slice(0, -1), '', startAfter);
      } else {
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
        pending.push(entry);
        if (pending.length >= STAT_CONCURRENCY * 4) {
          yield* await this.statFiles(dirKey, pending);
          pending = [];
        }
      }
    }
    yield* await this.statFiles(dirKey, pending);
  }

  /** Sizes and times of files in one folder (stat calls in parallel); files deleted meanwhile are dropped. */
  private async statFiles(dirKey: string, files: Dirent[]): Promise<ObjectInfo[]> {
    const infos = await mapLimit(files, STAT_CONCURRENCY, async (e): Promise<ObjectInfo | undefined> => {
      const key = this.keyOfDir(dirKey, e.name);
      try {
        const st = await fsp.stat(this.pathOf(key));
        return { key, size: st.size, lastModified: st.mtimeMs };
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw this.fsError(err, 'listing', key);
      }
    });
    return infos.filter((i): i is ObjectInfo => i !== undefined);
  }

  /** Turns a file-system error into a StorageError that says what failed and how to fix it. */
  private fsError(err: unknown, doing: string, key: string | undefined, bytes?: number): StorageError {
    if (err instanceof StorageError) return err;
    const code = isErrno(err) ? err.code : undefined;
    const what =
      key === undefined ? `${doing} in ${this.localPath}` : `${doing} object "${key}" in ${this.localPath}`;
    const details = { repository: this.url, ...(key ? { key } : {}), ...(code ? { errno: code } : {}) };
    switch (code) {
      case 'ENOSPC':
      case 'EDQUOT':
        return new StorageError(
          StorageCode.noSpace,
          `no space left on the disk holding ${this.localPath} while ${what}` +
            (bytes ? ` (${bytes} bytes written before it filled up)` : '') +
            (code === 'EDQUOT' ? ' (disk quota exceeded)' : ''),
          {
            hint:
              'free space on that disk (`safetynet prune` removes restore points the retention policy no longer keeps), ' +
              'or set backup.repository to a folder on a larger disk; nothing partial was left behind',
            details,
            cause: err,
          },
        );
      case 'EACCES':
      case 'EPERM':
        return new StorageError(StorageCode.permission, `permission denied ${what}`, {
          hint:
            `let the user running safetynet (uid ${process.getuid?.() ?? '?'}) read and write ${this.localPath} ` +
            '(chown/chmod it), or set backup.repository to a folder that user owns',
          details,
          cause: err,
        });
      case 'EROFS':
        return new StorageError(StorageCode.permission, `read-only file system ${what}`, {
          hint: `remount the disk holding ${this.localPath} read-write, or set backup.repository to a writable folder`,
          details,
          cause: err,
        });
      case 'ENOTDIR':
      case 'EISDIR':
      case 'EEXIST':
        return new StorageError(
          StorageCode.keyConflict,
          `${what}: a file and a folder would share a name (the key or one of its parent folders clashes with an existing object)`,
          {
            hint: 'on local storage a key cannot be both an object and a folder of other keys ("a" and "a/b")',
            details,
            cause: err,
          },
        );
      case 'EMFILE':
      case 'ENFILE':
      case 'EAGAIN':
      case 'EBUSY':
      case 'EINTR':
        return new StorageError(StorageCode.io, `temporary file-system failure (${code}) ${what}`, {
          hint: 'too many open files or a busy device; it usually passes (raise `ulimit -n` if it persists)',
          details,
          cause: err,
          transient: true,
        });
      default:
        return new StorageError(
          StorageCode.io,
          `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
          {
            hint: `check the disk holding ${this.localPath} (\`dmesg\`, \`df -h\`) and its permissions`,
            details,
            cause: err,
          },
        );
    }
  }
}

/** Wraps an error thrown by a put's body so that it is rethrown unchanged, not mistaken for an I/O error. */
class BodyError extends Error {
  constructor(readonly original: unknown) {
    super('body failed');
  }
}

async function writeAll(fh: fsp.FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await fh.write(data, offset, data.byteLength - offset);
    offset += bytesWritten;
  }
}

/** Writes a stream of chunks in ~1 MiB writev batches; returns the byte count. */
async function writeIterable(fh: fsp.FileHandle, body: AsyncIterable<Uint8Array>): Promise<number> {
  const it = body[Symbol.asyncIterator]();
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let total = 0;
  const flush = async () => {
    if (batchBytes === 0) return;
    const { bytesWritten } = await fh.writev(batch);
    if (bytesWritten < batchBytes) await writeAll(fh, Buffer.concat(batch).subarray(bytesWritten));
    batch = [];
    batchBytes = 0;
  };
  try {
    while (true) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (err) {
        throw new BodyError(err);
      }
      if (next.done) break;
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array))
        throw new BodyError(new TypeError('put body yielded a non-binary chunk'));
      if (chunk.byteLength === 0) continue;
      batch.push(chunk);
      batchBytes += chunk.byteLength;
      total += chunk.byteLength;
      if (batchBytes >= WRITE_BATCH_BYTES) await flush();
    }
    await flush();
    return total;
  } catch (err) {
    // Tell the producer we stopped early (lets it release files or workers).
    if (!(err instanceof BodyError)) await it.return?.().catch(() => undefined);
    throw err;
  }
}

/** link(2) not available on this file system (FAT, some network/FUSE mounts). */
function linkUnsupported(err: unknown): boolean {
  return (
    isErrno(err, 'EPERM') || isErrno(err, 'ENOTSUP') || isErrno(err, 'EOPNOTSUPP') || isErrno(err, 'ENOSYS')
  );
}

/** After mkdir -p created `first`..`last`, fsyncs each new folder's parent so the entries survive a crash. */
async function fsyncChain(first: string, last: string): Promise<void> {
  const dirs: string[] = [];
  for (let d = last; ; d = path.dirname(d)) {
    dirs.push(d);
    if (d === first || d === path.dirname(d)) break;
  }
  for (const d of dirs.reverse()) await fsyncDir(path.dirname(d));
}

/** Maps with at most `limit` calls in flight, keeping order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}
