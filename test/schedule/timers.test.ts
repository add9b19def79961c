import { describe, expect, it } from 'vitest';
import { ManualClock, SystemTimerClock } from '../../src/clock.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { MemoryStateStore } from '../../src/schedule/state.js';

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until true or `timeoutMs` passed; returns whether it became true. */
async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await wait(10);
  return cond();
}

describe('ManualClock timers', () => {
  it('advance() fires due timers in time order, with now() at each timer instant', () => {
    const clock = new ManualClock(1_000);
    const fired: Array<[string, number]> = [];
    clock.setTimer(3_000, () => fired.push(['c', clock.now()]));
    clock.setTimer(2_000, () => fired.push(['a', clock.now()]));
    clock.setTimer(2_000, () => fired.push(['b', clock.now()])); // same instant: order of setting
    const cancel = clock.setTimer(2_500, () => fired.push(['cancelled', clock.now()]));
    cancel();
    cancel(); // harmless twice
    clock.advance(1_500);
    expect(fired).toEqual([
      ['a', 2_000],
      ['b', 2_000],
    ]);
    expect(clock.now()).toBe(2_500);
    clock.set(10_000);
    expect(fired.map((f) => f[0])).toEqual(['a', 'b', 'c']);
    expect(clock.now()).toBe(10_000);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('fires a timer set by another timer within the same advance, if it falls in the range', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimer(10, () => {
      fired.push(clock.now());
      clock.setTimer(15, () => fired.push(clock.now()));
      clock.setTimer(500, () => fired.push(clock.now()));
    });
    clock.advance(100);
    expect(fired).toEqual([10, 15]);
    expect(clock.nextTimerAt()).toBe(500);
  });

  it('a timer already due fires on the next microtask, once', async () => {
    const clock = new ManualClock(5_000);
    let count = 0;
    clock.setTimer(4_000, () => count++);
    expect(count).toBe(0);
    await Promise.resolve();
    expect(count).toBe(1);
    clock.advance(10);
    expect(count).toBe(1);
  });

  it('advanceAsync() lets async work started by one timer finish before the next fires', async () => {
    const clock = new ManualClock(0);
    const log: string[] = [];
    clock.setTimer(100, () => {
      void (async () => {
        log.push('start@100');
        await Promise.resolve();
        await new Promise((r) => setImmediate(r));
        // work that needs time sets its own timer
        clock.setTimer(clock.now() + 50, () => log.push(`done@${clock.now()}`));
      })();
    });
    clock.setTimer(200, () => log.push('second@200'));
    await clock.advanceAsync(1_000);
    expect(log).toEqual(['start@100', 'done@150', 'second@200']);
  });

  it('moving the clock back fires nothing', () => {
    const clock = new ManualClock(10_000);
    let fired = false;
    clock.setTimer(20_000, () => (fired = true));
    clock.set(5_000);
    expect(fired).toBe(false);
    expect(clock.now()).toBe(5_000);
  });
});

describe('SystemTimerClock (real timers)', () => {
  it('fires a real timer at its instant, never before', async () => {
    const clock = new SystemTimerClock();
    const at = Date.now() + 120;
    const firedAt = await new Promise<number>((resolve) => clock.setTimer(at, () => resolve(Date.now())));
    expect(firedAt).toBeGreaterThanOrEqual(at);
    expect(firedAt - at).toBeLessThan(1_000);
  });

  it('sleeps in chunks: a timer 30 days away neither fires at once (setTimeout overflow) nor blocks cancel', async () => {
    const clock = new SystemTimerClock();
    let fired = false;
    const cancel = clock.setTimer(Date.now() + 30 * 86_400_000, () => (fired = true));
    await wait(50);
    expect(fired).toBe(false);
    cancel();
  });

  it('notices a wall clock that jumps forward within one chunk, and waits when it jumps back', async () => {
    let offset = 0;
    const clock = new SystemTimerClock({ maxSleepMs: 20, now: () => Date.now() + offset });
    // Forward: a timer an hour away fires soon after the wall clock jumps an hour ahead.
    let forward: number | undefined;
    clock.setTimer(clock.now() + 3_600_000, () => (forward = Date.now()));
    await wait(60);
    expect(forward).toBeUndefined();
    const jumpedAt = Date.now();
    offset = 3_600_000;
    expect(await waitFor(() => forward !== undefined, 2_000)).toBe(true);
    // Within about one 20 ms chunk; the bound is loose because the test machine is shared.
    expect(forward! - jumpedAt).toBeLessThan(500);

    // Back: a timer 50 ms away does not fire while the wall clock reads an hour earlier.
    offset = 0;
    let back = false;
    clock.setTimer(clock.now() + 50, () => (back = true));
    offset = -3_600_000;
    await wait(150);
    expect(back).toBe(false);
    offset = 0;
    expect(await waitFor(() => back, 2_000)).toBe(true);
  });

  it('cancel() stops a pending real timer', async () => {
    const clock = new SystemTimerClock();
    let fired = false;
    const cancel = clock.setTimer(Date.now() + 30, () => (fired = true));
    cancel();
    await wait(80);
    expect(fired).toBe(false);
  });

  it('drives the Scheduler with real timers: a job every second fires on whole seconds', async () => {
    const clock = new SystemTimerClock();
    const starts: number[] = [];
    let resolveTwo: () => void;
    const two = new Promise<void>((r) => (resolveTwo = r));
    const scheduler = new Scheduler({
      clock,
      timezone: 'UTC',
      state: new MemoryStateStore(),
      jobs: [
        {
          name: 'tick',
          cron: '* * * * * *', // six fields: every second
          catchUp: false,
          run: async () => {
            starts.push(Date.now());
            if (starts.length === 2) resolveTwo();
          },
        },
      ],
    });
    await scheduler.start();
    await Promise.race([two, wait(4_000)]);
    await scheduler.stop();
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThan(500);
    expect(starts[1]! - starts[0]!).toBeLessThan(1_500);
    for (const s of starts) expect(s % 1_000).toBeLessThan(500); // at (just after) a whole second
    const last = scheduler.lastRuns()[0]!.lastSuccess!;
    expect(Date.parse(last.slot) % 1_000).toBe(0);
  });
});
