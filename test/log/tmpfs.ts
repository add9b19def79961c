/**
 * A real, small tmpfs for disk-full tests (the tests run as root on the CI machines). The mount is
 * removed by `unmount()`; callers do it in afterAll/afterEach.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Fills what is left of the file system with one file (until ENOSPC). Returns bytes written. */
  fill(): number;
  /** Frees the space `fill()` took. */
  unfill(): void;
  unmount(): void;
}

/** Mounts a tmpfs of `bytes` on a new temporary folder. Throws (fails the test) when it cannot. */
export function mountTmpfs(bytes: number): Tmpfs {
  const dir = mkdtempSync(path.join(tmpdir(), 'safetynet-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], {
      stdio: 'pipe',
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `cannot mount a tmpfs for the disk-full tests (they need root and mount permission): ${String(err)}`,
      { cause: err },
    );
  }
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 1);
      let total = 0;
      try {
        for (;;) {
          try {
            total += writeSync(fd, chunk);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            // Fill the last partial chunk too, byte counts halving.
            let n = chunk.length >> 1;
            while (n > 0) {
              try {
                total += writeSync(fd, chunk, 0, n);
              } catch {
                n >>= 1;
              }
            }
            return total;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    unfill() {
      rmSync(filler, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
