/**
 * The wall clock stepped while serve runs (NTP correcting a wrong clock, an operator, a VM resumed).
 * Before, a step back of an hour left the hourly backup waiting for its old slot to come round
 * again: two hours between incrementals, twice the RPO objective. The scheduler now re-plans from
 * the new time; daily jobs still run once.
 */
import { describe, expect, it } from 'vitest';
import { SystemTimerClock } from '../../src/clock.js';
import { DAY, HOUR, Harness, MINUTE, stateWithLastSuccess } from './helpers.js';

const t = (iso: string) => Date.parse(iso);

function twoJobs(start: string, lastFull: string, lastIncremental: string) {
  return new Harness({
    start: t(start),
    timezone: 'UTC',
    state: stateWithLastSuccess({ full: lastFull, incremental: lastIncremental }),
    jobs: [
      { name: 'full', cron: '0 3 * * *', durationMs: 5 * MINUTE },
      { name: 'incremental', cron: '0 * * * *', durationMs: MINUTE },
    ],
  });
}

describe('Scheduler: the wall clock stepped', () => {
  it('back an hour: the hourly job keeps its pace (one run per real hour), the daily job is not repeated', async () => {
    const h = twoJobs('2026-05-03T14:30:00Z', '2026-05-03T03:00:00.000Z', '2026-05-03T14:00:00.000Z');
    await h.scheduler.start();
    await h.clock.step(-HOUR); // 14:30 -> 13:30, thirty real minutes after the 14:00 run
    const step = h.eventsOf('clock-step');
    expect(step).toHaveLength(1);
    expect(step[0]!.deltaMs).toBe(-HOUR);
    expect(step[0]!.next.find((n) => n.job === 'incremental')!.at).toBe('2026-05-03T14:00:00.000Z');
    // Thirty real minutes later the clock reads 14:00 again: the incremental runs (one real hour
    // after the previous one), and then every hour.
    await h.clock.advanceAsync(30 * MINUTE + 1);
    expect(h.startsOf('incremental')).toEqual(['2026-05-03T14:00:00.000Z']);
    await h.clock.advanceAsync(3 * HOUR);
    expect(h.startsOf('incremental')).toEqual([
      '2026-05-03T14:00:00.000Z',
      '2026-05-03T15:00:00.000Z',
      '2026-05-03T16:00:00.000Z',
      '2026-05-03T17:00:00.000Z',
    ]);
    expect(h.startsOf('full')).toEqual([]);
    await h.scheduler.stop({ abortRunning: true });
  });

  it('back an hour just after the daily run: that day is not backed up twice', async () => {
    const h = twoJobs('2026-05-04T03:30:00Z', '2026-05-04T03:00:00.000Z', '2026-05-04T03:00:00.000Z');
    await h.scheduler.start();
    await h.clock.advanceAsync(24 * HOUR); // 03:00 on the 5th ran once, and the incrementals
    const fullsBefore = h.startsOf('full');
    expect(fullsBefore).toEqual(['2026-05-05T03:00:00.000Z']);
    await h.clock.step(-HOUR); // 03:30 on the 5th -> 02:30: 03:00 comes round again
    await h.clock.advanceAsync(2 * HOUR);
    expect(h.startsOf('full')).toEqual(fullsBefore);
    await h.clock.advanceAsync(DAY);
    expect(h.startsOf('full')).toEqual([...fullsBefore, '2026-05-06T03:00:00.000Z']);
    await h.scheduler.stop({ abortRunning: true });
  });

  it('back while a job runs: the job finishes and the next slot counts from the new time', async () => {
    // The step comes while the run works (its "work" is two minutes on the clock after the step).
    const h: Harness = new Harness({
      start: t('2026-05-03T14:59:00Z'),
      timezone: 'UTC',
      state: stateWithLastSuccess({ incremental: '2026-05-03T14:50:00.000Z' }),
      jobs: [
        {
          name: 'incremental',
          cron: '*/10 * * * *',
          durationMs: 2 * MINUTE,
          behaviour: (run) => {
            if (run === 0) void h.clock.step(-HOUR); // 15:00 -> 14:00 during the first run
          },
        },
      ],
    });
    await h.scheduler.start();
    // ManualClock.advanceAsync moves to an absolute target (15:00:00.001), so after the step it
    // goes on through the new 14:00-15:00 hour.
    await h.clock.advanceAsync(MINUTE + 1);
    // The run ends at 14:02 (new time); the next slot is 14:10, not 15:10, then every ten minutes.
    expect(h.startsOf('incremental')).toEqual([
      '2026-05-03T15:00:00.000Z',
      '2026-05-03T14:10:00.000Z',
      '2026-05-03T14:20:00.000Z',
      '2026-05-03T14:30:00.000Z',
      '2026-05-03T14:40:00.000Z',
      '2026-05-03T14:50:00.000Z',
      '2026-05-03T15:00:00.000Z',
    ]);
    await h.scheduler.stop({ abortRunning: true });
  });

  it('back an hour when the state file holds a run from another timeline: the job still keeps its pace', async () => {
    // An earlier process saw the clock an hour ahead and recorded a failed run at 16:00.
    const state = stateWithLastSuccess({ incremental: '2026-05-03T14:00:00.000Z' });
    const future = { ...state.jobs.incremental!.lastSuccess!, startedAt: '2026-05-03T16:00:00.000Z' };
    state.jobs.incremental!.lastFailure = { ...future, outcome: 'failed' };
    const h = new Harness({
      start: t('2026-05-03T14:30:00Z'),
      timezone: 'UTC',
      state,
      jobs: [{ name: 'incremental', cron: '0 * * * *', durationMs: MINUTE }],
    });
    await h.scheduler.start();
    await h.clock.step(-HOUR); // 13:30
    await h.clock.advanceAsync(30 * MINUTE + 1);
    expect(h.startsOf('incremental')).toEqual(['2026-05-03T14:00:00.000Z']);
    await h.scheduler.stop({ abortRunning: true });
  });

  it('forward an hour: the slots that passed run once each, not once per missed slot', async () => {
    const h = new Harness({
      start: t('2026-05-03T14:01:00Z'),
      timezone: 'UTC',
      state: stateWithLastSuccess({ incremental: '2026-05-03T14:00:00.000Z' }),
      jobs: [{ name: 'incremental', cron: '*/5 * * * *', durationMs: 1000 }],
    });
    await h.scheduler.start();
    await h.clock.step(HOUR); // 15:01: twelve slots passed in no real time
    await h.clock.advanceAsync(2000);
    expect(h.startsOf('incremental')).toEqual(['2026-05-03T15:01:00.000Z']);
    await h.clock.advanceAsync(4 * MINUTE);
    expect(h.startsOf('incremental')).toEqual(['2026-05-03T15:01:00.000Z', '2026-05-03T15:05:00.000Z']);
    expect(h.maxConcurrent).toBe(1);
    await h.scheduler.stop({ abortRunning: true });
  });
});

describe('SystemTimerClock: finding a step', () => {
  it('reports a wall-clock step against monotonic time when a timer wakes, and not plain lateness', async () => {
    let offset = 0;
    let mono = 0;
    const clock = new SystemTimerClock({
      now: () => Date.now() + offset,
      monotonic: () => mono,
      maxSleepMs: 5,
    });
    const steps: number[] = [];
    const off = clock.onStep((d) => steps.push(d));
    const start = clock.now();
    let fired = false;
    clock.setTimer(start + 40, () => (fired = true));
    // Real time passes while "monotonic" is held still: every wake shows wall moving against it,
    // so keep monotonic in step with the wall clock except for one deliberate step.
    const realStart = Date.now();
    const follow = setInterval(() => (mono = Date.now() - realStart), 1);
    await new Promise((r) => setTimeout(r, 15));
    offset = -HOUR;
    await new Promise((r) => setTimeout(r, 30));
    clearInterval(follow);
    off();
    expect(steps.length).toBe(1);
    expect(steps[0]).toBeLessThan(-HOUR + 1000);
    expect(steps[0]).toBeGreaterThan(-HOUR - 1000);
    expect(fired).toBe(false); // the timer waits for its wall-clock instant, as before
  });
});
