import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ConfigError, LockError } from '../../src/errors.js';
import { FileInstanceLock } from '../../src/schedule/instance-lock.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { MemoryStateStore } from '../../src/schedule/state.js';
import { tempDir } from '../helpers/tmp.js';
import {
  DAY,
  HOUR,
  Harness,
  MINUTE,
  localTime,
  runsPerDay,
  sleepOn,
  stateWithLastSuccess,
} from './helpers.js';

const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';
const t = (isoText: string): number => Date.parse(isoText);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('Scheduler: regular slots', () => {
  it('fires hourly and daily jobs at the right instants for three days in Europe/Berlin', async () => {
    const h = new Harness({
      start: t('2026-01-10T00:30:00Z'), // 01:30 in Berlin (UTC+1 in winter)
      timezone: BERLIN,
      state: stateWithLastSuccess({
        full: '2026-01-09T02:00:00.000Z',
        incremental: '2026-01-10T00:00:00.000Z',
      }),
      jobs: [
        { name: 'full', cron: '0 3 * * *', durationMs: 10 * MINUTE },
        { name: 'incremental', cron: '0 * * * *', durationMs: MINUTE },
      ],
    });
    await h.scheduler.start();
    expect(h.eventsOf('scheduler-start')[0]!.catchUp).toEqual([]);
    await h.clock.advanceAsync(3 * DAY);

    // Expected instants written out independently of croner: 03:00 Berlin is 02:00Z in January.
    expect(h.startsOf('full')).toEqual([
      '2026-01-10T02:00:00.000Z',
      '2026-01-11T02:00:00.000Z',
      '2026-01-12T02:00:00.000Z',
    ]);
    const expectedIncremental: string[] = [];
    for (let at = t('2026-01-10T01:00:00Z'); at <= t('2026-01-13T00:00:00Z'); at += HOUR) {
      // At 03:00 Berlin the full backup (listed first) runs first; the incremental follows it.
      expectedIncremental.push(iso(new Date(at).getUTCHours() === 2 ? at + 10 * MINUTE : at));
    }
    expect(h.startsOf('incremental')).toEqual(expectedIncremental);
    expect(expectedIncremental).toHaveLength(72);
    expect(h.maxConcurrent).toBe(1);

    const late = h
      .eventsOf('job-start')
      .find((e) => e.job === 'incremental' && e.startedAt === '2026-01-10T02:10:00.000Z')!;
    expect(late).toMatchObject({
      slot: '2026-01-10T02:00:00.000Z',
      lateMs: 10 * MINUTE,
      coalescedSlots: 0,
      reason: 'schedule',
    });
    const ends = h.eventsOf('job-end');
    expect(ends).toHaveLength(75);
    expect(ends.every((e) => e.outcome === 'success')).toBe(true);
    expect(ends.find((e) => e.job === 'full')).toMatchObject({
      durationMs: 10 * MINUTE,
      startedAt: '2026-01-10T02:00:00.000Z',
    });
    await h.scheduler.stop();
  });

  it('fires a monthly job at each month boundary, also across the DST change', async () => {
    const h = new Harness({
      start: t('2026-01-30T12:00:00Z'),
      timezone: BERLIN,
      state: stateWithLastSuccess({ 'restore-test': '2026-01-01T03:00:00.000Z' }),
      jobs: [{ name: 'restore-test', cron: '0 4 1 * *', durationMs: 5 * MINUTE }],
    });
    await h.scheduler.start();
    await h.clock.setAsync(t('2026-01-31T23:59:00Z'));
    expect(h.runs).toHaveLength(0);
    await h.clock.setAsync(t('2026-04-02T00:00:00Z'));
    // 04:00 CET = 03:00Z; on 1 April Berlin is on CEST, so 04:00 = 02:00Z.
    expect(h.startsOf('restore-test')).toEqual([
      '2026-02-01T03:00:00.000Z',
      '2026-03-01T03:00:00.000Z',
      '2026-04-01T02:00:00.000Z',
    ]);
    expect(h.scheduler.nextRuns()[0]!.at).toBe('2026-05-01T02:00:00.000Z');
    await h.scheduler.stop();
  });

  it('runs an every-minute job 1440 times in a simulated day, each on its minute', async () => {
    const dayStart = t('2026-01-10T23:00:00Z'); // midnight in Berlin
    const h = new Harness({
      start: dayStart - 1,
      timezone: BERLIN,
      jobs: [{ name: 'incremental', cron: '* * * * *', durationMs: 20_000, catchUp: false }],
    });
    await h.scheduler.start();
    await h.clock.setAsync(dayStart + DAY - 1);
    const starts = h.runs.map((r) => r.start);
    expect(starts).toHaveLength(1440);
    starts.forEach((s, i) => expect(s).toBe(dayStart + i * MINUTE));
    expect(h.eventsOf('job-end').filter((e) => e.outcome === 'success')).toHaveLength(1440);
    await h.scheduler.stop();
  });
});

describe('Scheduler: catch-up of missed runs', () => {
  it('catches up a missed 03:00 once at start, full before incremental, and not again after a restart', async () => {
    const store = new MemoryStateStore(
      stateWithLastSuccess({ full: '2026-01-09T02:00:00.000Z', incremental: '2026-01-10T00:00:00.000Z' }),
    );
    // The machine was off from 00:30Z to 08:20Z: the 03:00 full and the hourly runs were missed.
    const h = new Harness({
      start: t('2026-01-10T08:20:00Z'),
      timezone: BERLIN,
      store,
      catchUpDelayMs: 5_000,
      jobs: [
        { name: 'full', cron: '0 3 * * *', durationMs: 10 * MINUTE },
        { name: 'incremental', cron: '0 * * * *', durationMs: MINUTE },
      ],
    });
    await h.scheduler.start();
    expect(h.eventsOf('scheduler-start')[0]!.catchUp).toEqual(['full', 'incremental']);
    expect(h.scheduler.nextRuns().map((n) => [n.name, n.at, n.reason])).toEqual([
      ['full', '2026-01-10T08:20:05.000Z', 'catch-up'],
      ['incremental', '2026-01-10T08:20:05.000Z', 'catch-up'],
    ]);
    await h.clock.advanceAsync(20 * MINUTE); // to 08:40Z
    expect(h.startsOf('full')).toEqual(['2026-01-10T08:20:05.000Z']);
    expect(h.startsOf('incremental')).toEqual(['2026-01-10T08:30:05.000Z']);
    const starts = h.eventsOf('job-start');
    expect(starts.map((e) => [e.job, e.reason, e.slot])).toEqual([
      ['full', 'catch-up', '2026-01-10T02:00:00.000Z'],
      ['incremental', 'catch-up', '2026-01-10T08:00:00.000Z'],
    ]);
    await h.scheduler.stop();

    // serve restarts at 08:40Z: both missed slots are done, nothing is caught up again.
    const second = h.build();
    await second.start();
    expect(h.eventsOf('scheduler-start')[1]!.catchUp).toEqual([]);
    await h.clock.setAsync(t('2026-01-10T10:30:00Z'));
    expect(h.startsOf('full')).toHaveLength(1);
    expect(h.startsOf('incremental')).toEqual([
      '2026-01-10T08:30:05.000Z',
      '2026-01-10T09:00:00.000Z',
      '2026-01-10T10:00:00.000Z',
    ]);
    await second.stop();
  });

  it('runs every job once at the first start (no state), in job order', async () => {
    const h = new Harness({
      start: t('2026-01-10T12:00:00Z'),
      timezone: BERLIN,
      jobs: [
        { name: 'full', cron: '0 3 * * *', durationMs: MINUTE },
        { name: 'incremental', cron: '0 * * * *' },
        { name: 'restore-test', cron: '0 4 1 * *' },
        { name: 'quiet', cron: '0 * * * *', catchUp: false },
      ],
    });
    await h.scheduler.start();
    await h.clock.advanceAsync(30 * MINUTE);
    expect(h.runs.map((r) => r.job)).toEqual(['full', 'incremental', 'restore-test']);
    await h.scheduler.stop();
  });

  it('records a run the previous process left unfinished as interrupted and catches it up', async () => {
    const state = stateWithLastSuccess({ full: '2026-01-09T02:00:00.000Z' });
    state.jobs.full!.running = {
      slot: '2026-01-10T02:00:00.000Z',
      reason: 'schedule',
      startedAt: '2026-01-10T02:00:00.000Z',
      pid: 1,
    };
    const h = new Harness({
      start: t('2026-01-10T02:30:00Z'),
      timezone: BERLIN,
      state,
      jobs: [{ name: 'full', cron: '0 3 * * *' }],
    });
    await h.scheduler.start();
    const interrupted = h.eventsOf('run-interrupted');
    expect(interrupted).toHaveLength(1);
    expect(interrupted[0]!.record).toMatchObject({
      outcome: 'interrupted',
      startedAt: '2026-01-10T02:00:00.000Z',
    });
    await h.clock.advanceAsync(MINUTE);
    expect(h.startsOf('full')).toEqual(['2026-01-10T02:30:00.000Z']);
    const saved = h.store.snapshot().jobs.full!;
    expect(saved.running).toBeUndefined();
    expect(saved.lastRun).toMatchObject({
      outcome: 'success',
      reason: 'catch-up',
      slot: '2026-01-10T02:00:00.000Z',
    });
    await h.scheduler.stop();
  });
});

describe('Scheduler: daylight saving time', () => {
  const jobs = [
    { name: 'full', cron: '0 3 * * *' },
    { name: 'at-0230', cron: '30 2 * * *' },
    { name: 'at-0130', cron: '30 1 * * *' },
    { name: 'hourly', cron: '0 * * * *' },
    { name: 'quarter', cron: '*/15 * * * *' },
  ].map((j) => ({ ...j, catchUp: false }));

  /** Runs the jobs from local midnight before `days[0]` to local midnight after the last day. */
  async function simulate(timezone: string, fromUtc: string, toUtc: string): Promise<Harness> {
    const h = new Harness({ start: t(fromUtc) - 1, timezone, jobs });
    await h.scheduler.start();
    await h.clock.setAsync(t(toUtc) - 1);
    await h.scheduler.stop();
    expect(h.maxConcurrent).toBe(1);
    return h;
  }

  it('Europe/Berlin spring forward (29 March 2026, 02:00 -> 03:00)', async () => {
    const h = await simulate(BERLIN, '2026-03-27T23:00:00Z', '2026-03-30T22:00:00Z');
    const days = { '2026-03-28': 1, '2026-03-29': 1, '2026-03-30': 1 };
    for (const daily of ['full', 'at-0230', 'at-0130'])
      expect(runsPerDay(h.runs, daily, BERLIN)).toEqual(days);
    expect(runsPerDay(h.runs, 'hourly', BERLIN)).toEqual({
      '2026-03-28': 24,
      '2026-03-29': 23,
      '2026-03-30': 24,
    });
    expect(runsPerDay(h.runs, 'quarter', BERLIN)).toEqual({
      '2026-03-28': 96,
      '2026-03-29': 92,
      '2026-03-30': 96,
    });
    // 02:30 does not exist that day: the job runs when the clock jumps, at 03:00 CEST.
    expect(h.startsOf('at-0230')).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
    expect(h.startsOf('full')[1]).toBe('2026-03-29T01:00:00.000Z');
  });

  it('Europe/Berlin fall back (25 October 2026, 03:00 -> 02:00)', async () => {
    const h = await simulate(BERLIN, '2026-10-23T22:00:00Z', '2026-10-26T23:00:00Z');
    const days = { '2026-10-24': 1, '2026-10-25': 1, '2026-10-26': 1 };
    for (const daily of ['full', 'at-0230', 'at-0130'])
      expect(runsPerDay(h.runs, daily, BERLIN)).toEqual(days);
    // Interval jobs follow real time: the repeated hour runs twice.
    expect(runsPerDay(h.runs, 'hourly', BERLIN)).toEqual({
      '2026-10-24': 24,
      '2026-10-25': 25,
      '2026-10-26': 24,
    });
    expect(runsPerDay(h.runs, 'quarter', BERLIN)).toEqual({
      '2026-10-24': 96,
      '2026-10-25': 100,
      '2026-10-26': 96,
    });
    // 02:30 happens twice; the daily job runs at the first one (CEST, UTC+2).
    expect(h.startsOf('at-0230')[1]).toBe('2026-10-25T00:30:00.000Z');
    const hourlyLocal = h.runs.filter(
      (r) =>
        r.job === 'hourly' && r.start >= t('2026-10-24T22:00:00Z') && r.start < t('2026-10-25T23:00:00Z'),
    );
    expect(hourlyLocal.map((r) => localTime(r.start, BERLIN)).filter((x) => x === '02:00')).toHaveLength(2);
  });

  it('America/New_York spring forward (8 March 2026) and fall back (1 November 2026)', async () => {
    const spring = await simulate(NEW_YORK, '2026-03-07T05:00:00Z', '2026-03-10T04:00:00Z');
    const springDays = { '2026-03-07': 1, '2026-03-08': 1, '2026-03-09': 1 };
    for (const daily of ['full', 'at-0230', 'at-0130'])
      expect(runsPerDay(spring.runs, daily, NEW_YORK)).toEqual(springDays);
    expect(runsPerDay(spring.runs, 'hourly', NEW_YORK)).toEqual({
      '2026-03-07': 24,
      '2026-03-08': 23,
      '2026-03-09': 24,
    });
    expect(spring.startsOf('at-0230')[1]).toBe('2026-03-08T07:00:00.000Z'); // 03:00 EDT

    const fall = await simulate(NEW_YORK, '2026-10-31T04:00:00Z', '2026-11-03T05:00:00Z');
    const fallDays = { '2026-10-31': 1, '2026-11-01': 1, '2026-11-02': 1 };
    for (const daily of ['full', 'at-0230', 'at-0130'])
      expect(runsPerDay(fall.runs, daily, NEW_YORK)).toEqual(fallDays);
    expect(runsPerDay(fall.runs, 'hourly', NEW_YORK)).toEqual({
      '2026-10-31': 24,
      '2026-11-01': 25,
      '2026-11-02': 24,
    });
    expect(fall.startsOf('at-0130')[1]).toBe('2026-11-01T05:30:00.000Z'); // the first 01:30, EDT
  });
});

describe('Scheduler: no overlap, failures', () => {
  it('a slow job delays the next due runs without stacking them', async () => {
    const h = new Harness({
      start: t('2026-01-10T00:30:00Z'),
      timezone: BERLIN,
      state: stateWithLastSuccess({
        full: '2026-01-09T02:00:00.000Z',
        incremental: '2026-01-10T00:00:00.000Z',
      }),
      jobs: [
        { name: 'full', cron: '0 3 * * *', durationMs: 2.5 * HOUR },
        { name: 'incremental', cron: '0 * * * *', durationMs: MINUTE },
      ],
    });
    await h.scheduler.start();
    await h.clock.advanceAsync(2 * HOUR); // 02:30Z: the full backup runs
    expect(h.scheduler.running()).toMatchObject({ name: 'full', startedAt: '2026-01-10T02:00:00.000Z' });
    await h.clock.setAsync(t('2026-01-10T07:30:00Z'));
    expect(h.startsOf('full')).toEqual(['2026-01-10T02:00:00.000Z']);
    // Slots 02:00, 03:00 and 04:00 passed while the full backup ran: one run at 04:30, then on time.
    expect(h.startsOf('incremental')).toEqual([
      '2026-01-10T01:00:00.000Z',
      '2026-01-10T04:30:00.000Z',
      '2026-01-10T05:00:00.000Z',
      '2026-01-10T06:00:00.000Z',
      '2026-01-10T07:00:00.000Z',
    ]);
    const delayed = h.eventsOf('job-start').find((e) => e.startedAt === '2026-01-10T04:30:00.000Z')!;
    expect(delayed).toMatchObject({
      job: 'incremental',
      slot: '2026-01-10T02:00:00.000Z',
      coalescedSlots: 2,
      lateMs: 2.5 * HOUR,
    });
    expect(h.maxConcurrent).toBe(1);
    await h.scheduler.stop();
  });

  it('a job slower than its own interval runs back to back, never twice at once', async () => {
    const h = new Harness({
      start: t('2026-01-10T00:00:00Z') - 1,
      timezone: 'UTC',
      jobs: [{ name: 'incremental', cron: '* * * * *', durationMs: 90_000, catchUp: false }],
    });
    await h.scheduler.start();
    await h.clock.advanceAsync(15 * MINUTE);
    const starts = h.runs.map((r) => r.start - t('2026-01-10T00:00:00Z'));
    expect(starts).toEqual([0, 90, 180, 270, 360, 450, 540, 630, 720, 810].map((s) => s * 1000));
    expect(h.maxConcurrent).toBe(1);
    await h.scheduler.stop({ abortRunning: true }); // the 10th run is still going
  });

  it('records a failing job and retries it at its next slot; the scheduler goes on', async () => {
    const h = new Harness({
      start: t('2026-01-10T00:30:00Z'),
      timezone: BERLIN,
      catchUpDelayMs: 0,
      state: stateWithLastSuccess({
        incremental: '2026-01-10T00:00:00.000Z',
        check: '2026-01-10T00:00:00.000Z',
      }),
      jobs: [
        {
          name: 'incremental',
          cron: '0 * * * *',
          durationMs: MINUTE,
          behaviour: (i) => {
            if (i === 1 || i === 2) throw new Error(`disk full (run ${i})`);
          },
        },
        {
          name: 'check',
          cron: '30 * * * *',
          behaviour: (i) => (i === 0 ? { status: 'failed', summary: 'integrity_check failed' } : undefined),
        },
      ],
    });
    await h.scheduler.start();
    await h.clock.setAsync(t('2026-01-10T04:45:00Z'));
    expect(h.startsOf('incremental')).toEqual([
      '2026-01-10T01:00:00.000Z',
      '2026-01-10T02:00:00.000Z',
      '2026-01-10T03:00:00.000Z',
      '2026-01-10T04:00:00.000Z',
    ]);
    const ends = h.eventsOf('job-end').filter((e) => e.job === 'incremental');
    expect(ends.map((e) => e.outcome)).toEqual(['success', 'failed', 'failed', 'success']);
    expect(ends.map((e) => e.consecutiveFailures)).toEqual([0, 1, 2, 0]);
    expect(ends[1]!.error?.message).toBe('disk full (run 1)');
    expect(ends[1]).toMatchObject({
      startedAt: '2026-01-10T02:00:00.000Z',
      endedAt: '2026-01-10T02:00:00.000Z',
      durationMs: 0,
    });

    const [inc, check] = h.scheduler.lastRuns();
    expect(inc!.consecutiveFailures).toBe(0);
    expect(inc!.lastFailure).toMatchObject({
      outcome: 'failed',
      startedAt: '2026-01-10T03:00:00.000Z',
      error: { message: 'disk full (run 2)' },
    });
    expect(inc!.lastSuccess!.startedAt).toBe('2026-01-10T04:00:00.000Z');
    expect(check!.lastFailure).toMatchObject({
      summary: 'integrity_check failed',
      startedAt: '2026-01-10T00:30:00.000Z',
    });
    expect(h.scheduler.nextRuns().map((n) => n.at)).toEqual([
      '2026-01-10T05:00:00.000Z',
      '2026-01-10T05:30:00.000Z',
    ]);
    await h.scheduler.stop();
  });

  it('survives a job that throws synchronously or throws a non-Error, and a listener that throws', async () => {
    const clock = new ManualClock(t('2026-01-10T00:00:00Z'));
    const ends: string[] = [];
    const scheduler = new Scheduler({
      clock,
      timezone: 'UTC',
      catchUpDelayMs: 0,
      state: new MemoryStateStore(),
      jobs: [
        {
          name: 'sync-throw',
          cron: '0 * * * *',
          run: () => {
            throw new Error('thrown before any await');
          },
        },
        { name: 'throws-string', cron: '0 * * * *', run: () => Promise.reject('just a string') },
        { name: 'fine', cron: '0 * * * *', run: async () => ({ summary: 'ok' }) },
      ],
      onEvent: (e) => {
        if (e.type === 'job-end') ends.push(`${e.job}:${e.outcome}:${e.error?.message ?? ''}`);
        throw new Error('listener bug');
      },
    });
    await scheduler.start();
    await clock.advanceAsync(HOUR);
    expect(ends).toEqual([
      'sync-throw:failed:thrown before any await',
      'throws-string:failed:just a string',
      'fine:success:',
      'sync-throw:failed:thrown before any await',
      'throws-string:failed:just a string',
      'fine:success:',
    ]);
    await scheduler.stop();
  });

  it('rejects a bad cron expression or duplicate names with a ConfigError naming the job', () => {
    const base = { clock: new ManualClock(), timezone: 'UTC', state: new MemoryStateStore() };
    const run = async (): Promise<void> => undefined;
    expect(() => new Scheduler({ ...base, jobs: [{ name: 'full', cron: '0 25 * * *', run }] })).toThrow(
      /job "full" schedule: "0 25 \* \* \*"/,
    );
    expect(() => new Scheduler({ ...base, jobs: [{ name: 'full', cron: '0 3 30 2 *', run }] })).toThrow(
      /never matches/,
    );
    expect(
      () =>
        new Scheduler({
          ...base,
          jobs: [
            { name: 'a', cron: '0 3 * * *', run },
            { name: 'a', cron: '0 4 * * *', run },
          ],
        }),
    ).toThrow(ConfigError);
    expect(
      () =>
        new Scheduler({ ...base, timezone: 'Europe/Nowhere', jobs: [{ name: 'a', cron: '0 3 * * *', run }] }),
    ).toThrow(/time zone/);
  });
});

describe('Scheduler: stop, trigger, lock', () => {
  function longFull(start: string): Harness {
    return new Harness({
      start: t(start),
      timezone: 'UTC',
      state: stateWithLastSuccess({
        full: '2026-01-09T03:00:00.000Z',
        incremental: '2026-01-10T02:00:00.000Z',
      }),
      jobs: [
        { name: 'full', cron: '0 3 * * *', durationMs: HOUR },
        { name: 'incremental', cron: '0 * * * *' },
      ],
    });
  }

  it('stop() waits for the running job, then takes no more runs', async () => {
    const h = longFull('2026-01-10T02:59:00Z');
    await h.scheduler.start();
    await h.clock.setAsync(t('2026-01-10T03:30:00Z'));
    let stopped = false;
    const stopping = h.scheduler.stop().then(() => (stopped = true));
    await h.clock.advanceAsync(10 * MINUTE);
    expect(stopped).toBe(false);
    await h.clock.setAsync(t('2026-01-10T04:00:00Z')); // the full backup ends
    await stopping;
    expect(h.runs).toEqual([
      { job: 'full', start: t('2026-01-10T03:00:00Z'), end: t('2026-01-10T04:00:00Z') },
    ]);
    expect(h.store.snapshot().jobs.full!.lastRun!.outcome).toBe('success');
    await h.clock.advanceAsync(2 * DAY);
    expect(h.runs).toHaveLength(1); // the incremental due at 03:00 never started
    expect(h.clock.pendingTimers()).toBe(0);
    expect(h.eventsOf('scheduler-stop')).toHaveLength(1);
    expect(h.scheduler.nextRuns().every((n) => n.at === null)).toBe(true);
  });

  it('stop({ abortRunning }) aborts the running job, records it as aborted, and the next start catches it up', async () => {
    const h = longFull('2026-01-10T02:59:00Z');
    await h.scheduler.start();
    await h.clock.setAsync(t('2026-01-10T03:30:00Z'));
    await h.scheduler.stop({ abortRunning: true }); // resolves without the clock moving
    expect(h.runs[0]).toMatchObject({ job: 'full', aborted: true });
    expect(h.eventsOf('job-end')[0]).toMatchObject({
      job: 'full',
      outcome: 'aborted',
      durationMs: 30 * MINUTE,
    });
    expect(h.eventsOf('scheduler-stop')[0]!.abortedJob).toBe('full');
    expect(h.store.snapshot().jobs.full!.lastRun!.outcome).toBe('aborted');

    const again = h.build();
    await again.start();
    expect(h.eventsOf('scheduler-start')[1]!.catchUp).toEqual(['full', 'incremental']);
    await h.clock.advanceAsync(2 * HOUR);
    expect(h.startsOf('full')).toEqual(['2026-01-10T03:00:00.000Z', '2026-01-10T03:30:00.000Z']);
    await again.stop();
  });

  it('trigger() runs a job on demand after the running one, without moving its regular slot', async () => {
    const h = longFull('2026-01-10T02:59:00Z');
    await h.scheduler.start();
    await h.clock.setAsync(t('2026-01-10T03:10:00Z'));
    h.scheduler.trigger('incremental'); // its 03:00 slot is already waiting: one run serves both
    expect(() => h.scheduler.trigger('nope')).toThrow(/no scheduled job named "nope"/);
    await h.clock.setAsync(t('2026-01-10T05:10:00Z'));
    expect(h.startsOf('incremental')).toEqual(['2026-01-10T04:00:00.000Z', '2026-01-10T05:00:00.000Z']);
    h.scheduler.trigger('incremental'); // idle: runs at once
    await h.clock.setAsync(t('2026-01-10T06:30:00Z'));
    expect(h.startsOf('incremental')).toEqual([
      '2026-01-10T04:00:00.000Z',
      '2026-01-10T05:00:00.000Z',
      '2026-01-10T05:10:00.000Z',
      '2026-01-10T06:00:00.000Z',
    ]);
    expect(h.eventsOf('job-start').map((e) => e.reason)).toEqual([
      'schedule',
      'schedule',
      'schedule',
      'manual',
      'schedule',
    ]);
    expect(h.maxConcurrent).toBe(1);
    await h.scheduler.stop();
  });

  it('nextRuns() and running() describe the plan for status pages', async () => {
    const h = longFull('2026-01-10T02:30:00Z');
    expect(h.scheduler.nextRuns().map((n) => n.at)).toEqual([
      '2026-01-10T03:00:00.000Z',
      '2026-01-10T03:00:00.000Z',
    ]);
    await h.scheduler.start();
    await h.clock.setAsync(t('2026-01-10T03:05:00Z'));
    expect(h.scheduler.running()).toEqual({
      name: 'full',
      reason: 'schedule',
      slot: '2026-01-10T03:00:00.000Z',
      startedAt: '2026-01-10T03:00:00.000Z',
    });
    expect(h.scheduler.nextRuns()).toEqual([
      { name: 'full', cron: '0 3 * * *', at: '2026-01-11T03:00:00.000Z', reason: 'schedule', running: true },
      {
        name: 'incremental',
        cron: '0 * * * *',
        at: '2026-01-10T03:00:00.000Z',
        reason: 'schedule',
        running: false,
      },
    ]);
    await h.scheduler.stop({ abortRunning: true });
  });

  it('refuses to start while another scheduler holds the instance lock, and releases it on stop', async () => {
    const dir = tempDir();
    const lockFile = `${dir}/serve.lock`;
    const first = new Harness({
      start: t('2026-01-10T00:00:00Z'),
      timezone: 'UTC',
      jobs: [{ name: 'full', cron: '0 3 * * *' }],
      extra: { lock: new FileInstanceLock(lockFile) },
    });
    await first.scheduler.start();
    const second = new Harness({
      start: t('2026-01-10T00:00:00Z'),
      timezone: 'UTC',
      jobs: [{ name: 'full', cron: '0 3 * * *' }],
      extra: { lock: new FileInstanceLock(lockFile, { pid: process.pid + 1 }) },
    });
    const err = await second.scheduler.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err).toMatchObject({ code: 'E_SERVE_RUNNING' });
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    await second.clock.advanceAsync(DAY);
    expect(second.runs).toHaveLength(0);
    expect(second.clock.pendingTimers()).toBe(0);

    await first.scheduler.stop();
    const third = second.build();
    await third.start(); // the lock is free again
    await third.stop();
  });

  it('waits with stop() while a slow job ignores the abort only until the job ends', async () => {
    const clock = new ManualClock(t('2026-01-10T00:00:00Z'));
    let finished = false;
    const scheduler = new Scheduler({
      clock,
      timezone: 'UTC',
      catchUpDelayMs: 0,
      state: new MemoryStateStore(),
      jobs: [
        {
          name: 'stubborn',
          cron: '0 3 * * *',
          run: async () => {
            await sleepOn(clock, 10 * MINUTE); // does not look at the signal
            finished = true;
          },
        },
      ],
    });
    await scheduler.start();
    await clock.advanceAsync(MINUTE);
    let stopped = false;
    const stopping = scheduler.stop({ abortRunning: true }).then(() => (stopped = true));
    await clock.advanceAsync(5 * MINUTE);
    expect(stopped).toBe(false);
    await clock.advanceAsync(5 * MINUTE);
    await stopping;
    expect(finished).toBe(true);
    expect(scheduler.lastRuns()[0]!.lastRun!.outcome).toBe('success'); // it did finish its work
  });
});
