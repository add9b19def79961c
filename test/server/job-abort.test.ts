/**
 * SIGTERM stops every job (issue 11, finding 8): serve's files, retention and restore-test jobs
 * honour the scheduler's AbortSignal — stopped, they leave no point, remove nothing more, and
 * record no restore test; a files backup stopped mid-read leaves no point either.
 */
import * as path from 'node:path';
import { describe, expect, it, afterEach } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { backupFiles } from '../../src/backup/sources/files/backup.js';
import { scheduledJobs } from '../../src/server/jobs.js';
import { createFilesEnv, put, bytes, type FilesEnv } from '../files/env.js';

let env: FilesEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

function job(e: FilesEnv, name: string, deps = e.deps) {
  return scheduledJobs(deps, e.logger).find((j) => j.name === name)!;
}

function stopped(): AbortSignal {
  const c = new AbortController();
  c.abort();
  return c.signal;
}

describe('jobs stop when serve stops', () => {
  it('a files backup stopped between files leaves no point', async () => {
    env = await createFilesEnv();
    for (let i = 0; i < 8; i++) put(path.join(env.shop, `images/p${i}.jpg`), bytes(i, 50_000));
    const c = new AbortController();
    let reads = 0;
    const err = await backupFiles(env.deps, {
      signal: c.signal,
      hooks: { afterRead: () => void (++reads === 3 && c.abort()) },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_ABORTED' });
    expect(reads).toBe(3);
    expect(await env.deps.repo.listPoints()).toEqual([]);
  });

  it('the files job honours the signal (before: it ran to the end and made a point)', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'images/p.jpg'), 'image');
    await expect(job(env, 'files').run(stopped(), { reason: 'schedule' })).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
    expect(await env.deps.repo.listPoints()).toEqual([]);
  });

  it('the retention job stops before removing a point', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    env = await createFilesEnv({
      clock,
      backup: { retention: { daily: 1, weekly: 0, monthly: 0, pointInTimeDays: 0 } },
    });
    put(path.join(env.shop, 'images/p.jpg'), 'image');
    for (let d = 0; d < 3; d++) {
      put(path.join(env.shop, `images/d${d}.jpg`), `day ${d}`);
      await backupFiles(env.deps, {});
      clock.advance(86_400_000);
    }
    expect(await env.deps.repo.listPoints()).toHaveLength(3);
    await expect(job(env, 'retention').run(stopped(), { reason: 'schedule' })).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
    expect(await env.deps.repo.listPoints()).toHaveLength(3);
    // Not stopped, the same job removes the two old points.
    await job(env, 'retention').run(new AbortController().signal, { reason: 'schedule' });
    expect(await env.deps.repo.listPoints()).toHaveLength(1);
  });

  it('the restore-test job stops and records nothing', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'images/p.jpg'), 'image');
    await backupFiles(env.deps, {});
    await expect(job(env, 'restore-test').run(stopped(), { reason: 'schedule' })).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
    expect(await env.deps.repo.listHistory('restore-test')).toEqual([]);
  });
});
