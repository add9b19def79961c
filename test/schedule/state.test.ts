import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { SafetynetError } from '../../src/errors.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import {
  JsonFileStateStore,
  emptyState,
  lastAttemptMs,
  type SchedulerState,
} from '../../src/schedule/state.js';
import { tempDir } from '../helpers/tmp.js';

describe('JsonFileStateStore', () => {
  it('returns an empty state when the file does not exist, and round-trips a saved state', async () => {
    const file = path.join(tempDir(), 'sub', 'scheduler.json');
    const store = new JsonFileStateStore(file);
    expect(await store.load()).toEqual(emptyState());
    const state: SchedulerState = {
      version: 1,
      jobs: {
        full: {
          consecutiveFailures: 2,
          lastRun: {
            slot: '2026-01-10T02:00:00.000Z',
            reason: 'schedule',
            startedAt: '2026-01-10T02:00:00.000Z',
            endedAt: '2026-01-10T02:01:00.000Z',
            durationMs: 60_000,
            outcome: 'failed',
            error: { name: 'StorageError', message: 'bucket unreachable', code: 'E_S3' },
          },
        },
      },
    };
    await store.save(state);
    expect(await store.load()).toEqual(state);
    expect(await new JsonFileStateStore(file).load()).toEqual(state);
    // No temporary files left next to it.
    expect(await fsp.readdir(path.dirname(file))).toEqual(['scheduler.json']);
  });

  it('moves a corrupt file aside (keeping it) and starts from an empty state', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'scheduler.json');
    await fsp.writeFile(file, '{"version":1,"jobs":{"full":');
    const seen: string[] = [];
    const store = new JsonFileStateStore(file, {
      now: () => Date.UTC(2026, 0, 10),
      onCorrupt: (i) => seen.push(i.movedTo),
    });
    expect(await store.load()).toEqual(emptyState());
    expect(seen).toEqual([path.join(dir, 'scheduler.json.corrupt-2026-01-10T00-00-00-000Z')]);
    expect(await fsp.readFile(seen[0]!, 'utf8')).toBe('{"version":1,"jobs":{"full":');
    await fsp.writeFile(file, '[1,2,3]');
    expect(await store.load()).toEqual(emptyState()); // not an object: also moved aside
  });

  it('refuses a state written by a newer version instead of overwriting it', async () => {
    const file = path.join(tempDir(), 'scheduler.json');
    await fsp.writeFile(file, JSON.stringify({ version: 2, jobs: {} }));
    const err = await new JsonFileStateStore(file).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetynetError);
    expect(err).toMatchObject({ code: 'E_SCHEDULER_STATE_VERSION' });
  });

  it('keeps unknown jobs and fills defaults', async () => {
    const file = path.join(tempDir(), 'scheduler.json');
    await fsp.writeFile(
      file,
      JSON.stringify({ version: 1, jobs: { old: { lastRun: { outcome: 'success' } }, junk: 5 } }),
    );
    const state = await new JsonFileStateStore(file).load();
    expect(Object.keys(state.jobs)).toEqual(['old']);
    expect(state.jobs.old!.consecutiveFailures).toBe(0);
  });

  it('lastAttemptMs ignores aborted and interrupted runs', () => {
    const rec = (startedAt: string, outcome: 'success' | 'failed' | 'aborted') => ({
      slot: startedAt,
      reason: 'schedule' as const,
      startedAt,
      outcome,
    });
    expect(lastAttemptMs(undefined)).toBeUndefined();
    expect(
      lastAttemptMs({
        consecutiveFailures: 1,
        lastSuccess: rec('2026-01-01T00:00:00Z', 'success'),
        lastFailure: rec('2026-01-02T00:00:00Z', 'failed'),
        lastRun: rec('2026-01-03T00:00:00Z', 'aborted'),
      }),
    ).toBe(Date.parse('2026-01-02T00:00:00Z'));
  });

  it('the scheduler persists runs to the file, and a restart reads them (no second catch-up)', async () => {
    const file = path.join(tempDir(), 'state', 'scheduler.json');
    const clock = new ManualClock(Date.parse('2026-01-10T08:00:00Z'));
    let runs = 0;
    const make = (): Scheduler =>
      new Scheduler({
        clock,
        timezone: 'Europe/Berlin',
        catchUpDelayMs: 0,
        state: new JsonFileStateStore(file),
        jobs: [{ name: 'full', cron: '0 3 * * *', run: async () => void runs++ }],
      });
    const first = make();
    await first.start();
    await clock.advanceAsync(1_000);
    await first.idle();
    await first.stop();
    expect(runs).toBe(1);
    const saved = JSON.parse(await fsp.readFile(file, 'utf8')) as SchedulerState;
    expect(saved.jobs.full!.lastSuccess).toMatchObject({
      reason: 'catch-up',
      slot: '2026-01-10T02:00:00.000Z',
      outcome: 'success',
    });

    const second = make();
    await second.start();
    await clock.advanceAsync(60_000);
    await second.stop();
    expect(runs).toBe(1);
  });
});
