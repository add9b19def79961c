/**
 * Makes a restored tree durable before the restore reports success: one `sync -f` (syncfs(2) of
 * the file system holding the tree, which also reports write-back errors such as EIO), or where
 * that is not available, an fsync of every file and folder. A restore that says "done" must
 * survive a power cut a second later.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { SafetynetError } from '../../../errors.js';
import { fsyncDir } from '../../../util/fs.js';

/**
 * Starts writing a restore's files to disk while it is still writing more: a `sync -f` of the
 * target's file system in the background each time EARLY_FLUSH_BYTES more were written (one at a
 * time). On these machines the page cache holds a whole restore (the kernel starts writing back at
 * 10% of memory), so without this every byte waited for the final flush: 560 ms of a 3.2 s files
 * restore. A failure is kept and reported by makeTreeDurable (a later `sync -f` would not see a
 * write-back error an earlier one already reported).
 */
export class EarlyFlush {
  private written = 0;
  private running: Promise<void> | undefined;
  private failure: string | undefined;
  /** No `sync -f` here: makeTreeDurable fsyncs file by file at the end instead. */
  private unavailable = false;

  constructor(
    private readonly root: string,
    private readonly everyBytes = EARLY_FLUSH_BYTES,
  ) {}

  /** `bytes` more were written under the root. */
  wrote(bytes: number): void {
    this.written += bytes;
    if (this.written < this.everyBytes || this.running || this.unavailable) return;
    this.written = 0;
    this.running = syncFs(this.root).then((r) => {
      if (r === 'unavailable') this.unavailable = true;
      else if (r !== 'ok') this.failure ??= r;
      this.running = undefined;
    });
  }

  /** Waits for a flush in progress; the first failure, if any. */
  async settle(): Promise<string | undefined> {
    await this.running;
    return this.failure;
  }
}

/** Bytes written between two early flushes (see EarlyFlush). */
export const EARLY_FLUSH_BYTES = 256 * 1024 * 1024;

/**
 * Flushes `files` (and the folders holding them) under `root` to disk; throws E_RESTORE_SYNC on
 * failure, also one an EarlyFlush of the same restore met.
 */
export async function makeTreeDurable(root: string, files: string[], early?: EarlyFlush): Promise<void> {
  const failed = await early?.settle();
  if (failed !== undefined) throw syncError(root, failed);
  const r = await syncFs(root);
  if (r === 'ok') return;
  if (r !== 'unavailable') throw syncError(root, r);
  try {
    for (const f of files) {
      const fh = await fsp.open(f, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    const dirs = new Set(files.map((f) => path.dirname(f)));
    dirs.add(root);
    for (const d of dirs) await fsyncDir(d);
  } catch (err) {
    throw syncError(root, (err as Error).message, err);
  }
}

/** 'ok', 'unavailable' (no `sync -f` here), or the error it printed. */
function syncFs(root: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', root], { timeout: 10 * 60_000 }, (err, _out, stderr) => {
      if (!err) return resolve('ok');
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT' || /invalid option|unrecognized option|illegal option/i.test(stderr))
        return resolve('unavailable');
      resolve(stderr.trim() || e.message);
    });
  });
}

function syncError(root: string, message: string, cause?: unknown): SafetynetError {
  return new SafetynetError(
    'E_RESTORE_SYNC',
    `the restored files under ${root} could not be flushed to disk: ${message}`,
    {
      hint: 'the target disk reported a write error; check it (dmesg) and restore again, to another disk if needed',
      exitCode: 1,
      ...(cause ? { cause } : {}),
    },
  );
}
