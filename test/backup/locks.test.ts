/**
 * Repository locks as leases with a per-process identity (issue 11, finding 1): a restarted
 * container (same host, same pid, another process) is not mistaken for the holder; a lock held by
 * a live unrelated pid expires; `unlock` sees the serve instance lock; release waits for an
 * in-flight refresh; a lock whose refresh keeps failing stops the job.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/backup/storage/index.js';
import type { Storage } from '../../src/backup/storage/index.js';
import {
  acquireLock,
  listAllLocks,
  removeLocks,
  staleness,
  type LockRecord,
} from '../../src/backup/repo/lock.js';
import { systemClock } from '../../src/clock.js';
import { processStartTicks, processToken } from '../../src/util/process-identity.js';
import { RepositoryInstanceLock } from '../../src/server/instance-lock.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { JsonFileStateStore } from '../../src/schedule/state.js';
import { systemTimerClock } from '../../src/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { runCli } from '../helpers/cli.js';
import { useTestEnvs } from './env.js';

const newEnv = useTestEnvs();
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function record(over: Partial<LockRecord>): LockRecord {
  const now = new Date().toISOString();
  return {
    id: `20260101T000000000Z-${Math.random().toString(16).slice(2, 10)}`,
    host: hostname(),
    pid: process.pid,
    purpose: 'backup db',
    exclusive: true,
    createdAt: now,
    refreshedAt: now,
    ...over,
  };
}

async function plant(storage: Storage, prefix: string, r: LockRecord): Promise<void> {
  await storage.put(`${prefix}${r.id}.json`, Buffer.from(JSON.stringify(r)));
}

/** A live process that is not us (and not related to any lock). */
function liveChild(): number {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(c);
  return c.pid!;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

async function localStorage(): Promise<LocalStorage> {
  const s = new LocalStorage(path.join(tempDir(), 'repo'));
  await s.probe('write');
  return s;
}

describe('repository locks: identity and lease', () => {
  it('a lock left by an earlier process with our own pid (container restart) is taken over', async () => {
    const storage = await localStorage();
    // Same host, same pid (node is pid 1 again after `docker restart`), another process token.
    await plant(storage, 'locks/', record({ token: 'deadbeef' }));
    const removed: string[] = [];
    const held = await acquireLock(storage, {
      purpose: 'backup db',
      exclusive: true,
      clock: systemClock,
      onStaleRemoved: (_l, why) => removed.push(why),
    });
    expect(removed).toEqual(['dead-local-process']);
    expect(held.record.token).toBe(processToken());
    await held.release();
  });

  it('serve comes back after a container restart: its own pid in the instance lock is not "running"', async () => {
    const env = await newEnv({ rows: 0 });
    await env.deps.repo.prepareForWrite();
    await plant(
      env.deps.repo.storage,
      'instance/',
      record({ purpose: 'safetynet serve', token: 'deadbeef' }),
    );
    const lock = new RepositoryInstanceLock(env.deps.repo);
    await lock.acquire(); // before the fix: E_SERVE_RUNNING, a restart loop
    expect(lock.lost?.aborted).toBe(false);
    await lock.release();
    expect(await listAllLocks(env.deps.repo.storage)).toEqual([]);
  });

  it('a live pid that started after the lock was written (pid reused) is not the holder', async () => {
    const pid = liveChild();
    expect(processStartTicks(pid)).toBeDefined();
    const r = record({ pid, token: 'cafecafe', startTicks: '1' });
    expect(staleness(r, Date.now())).toBe('dead-local-process');
    expect(staleness({ ...r, startTicks: processStartTicks(pid)! }, Date.now())).toBe('live');
  });

  it('a lock held by a live unrelated pid expires with its lease instead of blocking every backup', async () => {
    const storage = await localStorage();
    const pid = liveChild();
    const old = new Date(Date.now() - 11 * 60_000).toISOString();
    await plant(
      storage,
      'locks/',
      record({
        pid,
        token: 'cafecafe',
        startTicks: processStartTicks(pid)!,
        refreshedAt: old,
        createdAt: old,
      }),
    );
    // The record's file time must not count as a refresh either: make it old too.
    const { utimesSync } = await import('node:fs');
    for (const l of await listAllLocks(storage)) {
      const t = new Date(old);
      utimesSync(path.join(storage.localPath!, l.key), t, t);
    }
    const why: string[] = [];
    const held = await acquireLock(storage, {
      purpose: 'backup db',
      exclusive: true,
      clock: systemClock,
      onStaleRemoved: (_l, w) => why.push(w),
    });
    expect(why).toEqual(['expired']);
    await held.release();
  });

  it('a fresh lock of another host is respected', async () => {
    const storage = await localStorage();
    await plant(storage, 'locks/', record({ host: 'shop-2', pid: 4242, token: 'cafecafe' }));
    const err = await acquireLock(storage, { purpose: 'prune', exclusive: true, clock: systemClock }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'E_LOCKED' });
    expect(await listAllLocks(storage)).toHaveLength(1); // ours was removed again
  });

  it('unlock sees the instance lock: stale ones without --all, every one with --all', async () => {
    const env = await newEnv({ rows: 0 });
    const storage = env.deps.repo.storage;
    await env.deps.repo.prepareForWrite();
    // A serve on this host that is gone, and one on another host that looks live.
    await plant(
      storage,
      'instance/',
      record({ purpose: 'safetynet serve', pid: deadPid(), token: 'deadbeef' }),
    );
    await plant(
      storage,
      'instance/',
      record({ purpose: 'safetynet serve', host: 'shop-2', token: 'cafecafe' }),
    );
    await plant(storage, 'locks/', record({ host: 'shop-2', token: 'cafecafe' }));
    const r = await runCli(['unlock', '--json', '--config', env.configFile]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { removed: LockRecord[]; remaining: number };
    expect(out.removed.map((l) => l.host)).toEqual([hostname()]);
    expect(out.remaining).toBe(2);
    const all = await runCli(['unlock', '--all', '--json', '--config', env.configFile]);
    expect(JSON.parse(all.stdout).removed).toHaveLength(2);
    expect(await listAllLocks(storage)).toEqual([]);
    expect(await removeLocks(storage, { all: true, clock: systemClock })).toEqual([]);
  });
});

describe('repository locks: refresh', () => {
  it('release() waits for a refresh in flight, so the released lock never comes back', async () => {
    const inner = await localStorage();
    // A real storage whose lock writes are slow (a far S3 region): the refresh is in flight at release.
    let slowPuts = false;
    const slow: Storage = Object.create(inner) as Storage;
    slow.put = async (key, body, o) => {
      if (slowPuts) await new Promise((r) => setTimeout(r, 300));
      return inner.put(key, body, o);
    };
    const held = await acquireLock(slow, {
      purpose: 'backup db',
      exclusive: true,
      clock: systemClock,
      refreshMs: 40,
    });
    slowPuts = true;
    await new Promise((r) => setTimeout(r, 60)); // a refresh started and is waiting
    await held.release();
    await new Promise((r) => setTimeout(r, 400)); // any stray refresh would have landed by now
    expect(await listAllLocks(inner)).toEqual([]);
  });

  it('a lock whose refresh keeps failing is lost and stops the job at its next write', async () => {
    const env = await newEnv({ rows: 0 });
    const repo = env.deps.repo;
    // Short, but not so short that a slow refresh on a busy machine counts as a lapse.
    repo.lockTimings = { refreshMs: 50, leaseMs: 1500 };
    await repo.prepareForWrite();
    await repo.ensureInitialized();
    const lock = await repo.lock('backup db', true);
    const writer = repo.beginPoint({
      id: '20260101T000000000Z-abcdef',
      source: 'db',
      kind: 'full',
      time: Date.now(),
      parent: null,
      set: null,
    });
    await writer.add(0, 'data/20260101T000000000Z-abcdef/000000.age', Buffer.from('part'));
    // The storage starts refusing writes to locks/: the lock folder becomes a file.
    const locks = path.join(repo.storage.localPath!, 'locks');
    rmSync(locks, { recursive: true, force: true });
    writeFileSync(locks, 'not a folder');
    await new Promise((r) => setTimeout(r, 1500));
    expect(lock.lost.aborted).toBe(true);
    await expect(
      writer.add(1, 'data/20260101T000000000Z-abcdef/000001.age', Buffer.from('part')),
    ).rejects.toMatchObject({ code: 'E_LOCK_LOST' });
    await expect(writer.commit({}, { logicalBytes: 4 })).rejects.toMatchObject({ code: 'E_LOCK_LOST' });
    await writer.abort();
    rmSync(locks);
    mkdirSync(locks);
    await lock.release();
    expect(await repo.listPoints()).toEqual([]);
  });

  it('serve stops its scheduler when the instance lock is lost', async () => {
    const env = await newEnv({ rows: 0 });
    const repo = env.deps.repo;
    repo.lockTimings = { refreshMs: 50, leaseMs: 3000 };
    const lock = new RepositoryInstanceLock(repo);
    const events: string[] = [];
    let sawAbort = false;
    const scheduler = new Scheduler({
      clock: systemTimerClock,
      timezone: 'UTC',
      state: new JsonFileStateStore(path.join(env.dir, 'state.json')),
      lock,
      catchUpDelayMs: 0,
      jobs: [
        {
          name: 'long',
          cron: '* * * * * *',
          run: (signal) =>
            new Promise((_, reject) =>
              signal.addEventListener('abort', () => {
                sawAbort = true;
                reject(new Error('aborted'));
              }),
            ),
        },
      ],
      onEvent: (e) => events.push(e.type),
    });
    await scheduler.start();
    for (let i = 0; i < 100 && !scheduler.running(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(scheduler.running()?.name).toBe('long'); // the job is running
    const inst = path.join(repo.storage.localPath!, 'instance');
    rmSync(inst, { recursive: true, force: true });
    writeFileSync(inst, 'not a folder');
    const stopped = await scheduler.whenStopped();
    expect(stopped.lockLost).toBe(true);
    expect(sawAbort).toBe(true);
    expect(events).toContain('scheduler-error');
    rmSync(inst);
  });
});
