import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockError } from '../../src/errors.js';
import { FileInstanceLock, processIsAlive } from '../../src/schedule/instance-lock.js';
import { tempDir } from '../helpers/tmp.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const pid = Number(r.stdout.toString());
  expect(processIsAlive(pid)).toBe(false);
  return pid;
}

describe('FileInstanceLock', () => {
  it('a second holder is refused with E_SERVE_RUNNING naming the holder; release frees it', async () => {
    const file = path.join(tempDir(), 'locks', 'serve.lock');
    const a = new FileInstanceLock(file, { now: () => Date.UTC(2026, 0, 10, 8) });
    await a.acquire();
    expect(a.isHeld()).toBe(true);
    const onDisk = JSON.parse(await fsp.readFile(file, 'utf8'));
    expect(onDisk).toMatchObject({
      pid: process.pid,
      host: os.hostname(),
      since: '2026-01-10T08:00:00.000Z',
    });

    const b = new FileInstanceLock(file);
    const err = await b.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err).toMatchObject({ code: 'E_SERVE_RUNNING', exitCode: 3 });
    expect((err as Error).message).toBe(
      `another safetynet serve is running for this repository: pid ${process.pid} on this host, since 2026-01-10T08:00:00.000Z`,
    );
    expect((err as LockError).hint).toContain(file);

    await a.release();
    await a.release(); // twice is harmless
    await b.acquire();
    expect(JSON.parse(await fsp.readFile(file, 'utf8')).token).not.toBe(onDisk.token);
    await b.release();
    await expect(fsp.access(file)).rejects.toThrow();
    expect(await fsp.readdir(path.dirname(file))).toEqual([]); // no temp files left
  });

  it('takes over a stale lock left by a dead process on the same host', async () => {
    const file = path.join(tempDir(), 'serve.lock');
    await fsp.writeFile(
      file,
      JSON.stringify({ pid: deadPid(), host: os.hostname(), since: '2026-01-01T00:00:00Z', token: 'old' }),
    );
    const lock = new FileInstanceLock(file);
    await lock.acquire();
    expect(JSON.parse(await fsp.readFile(file, 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('never takes over a lock from another host, even with a dead pid', async () => {
    const file = path.join(tempDir(), 'serve.lock');
    await fsp.writeFile(
      file,
      JSON.stringify({ pid: deadPid(), host: 'shop-2', since: '2026-01-01T00:00:00Z', token: 'x' }),
    );
    const err = await new FileInstanceLock(file).acquire().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_SERVE_RUNNING' });
    expect((err as Error).message).toContain('on host "shop-2"');
  });

  it('replaces an unreadable lock file', async () => {
    const file = path.join(tempDir(), 'serve.lock');
    await fsp.writeFile(file, 'garbage');
    const lock = new FileInstanceLock(file);
    await lock.acquire();
    expect(lock.isHeld()).toBe(true);
    await lock.release();
  });

  it('release() leaves alone a lock that someone else holds now', async () => {
    const file = path.join(tempDir(), 'serve.lock');
    const a = new FileInstanceLock(file);
    await a.acquire();
    await fsp.rm(file); // removed by hand ...
    const b = new FileInstanceLock(file, { pid: 1 });
    await b.acquire(); // ... and taken by another serve
    await a.release();
    expect(JSON.parse(await fsp.readFile(file, 'utf8')).pid).toBe(1);
  });

  it('of many concurrent acquirers exactly one wins', async () => {
    const file = path.join(tempDir(), 'serve.lock');
    const locks = Array.from(
      { length: 8 },
      (_, i) => new FileInstanceLock(file, { pid: process.pid, host: `h${i}` }),
    );
    const results = await Promise.allSettled(locks.map((l) => l.acquire()));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .every((r) => (r as PromiseRejectedResult).reason.code === 'E_SERVE_RUNNING'),
    ).toBe(true);
  });
});
