/**
 * Time, injected. Everything that depends on "now" (scheduler, retention, batching, RPO figures)
 * takes a Clock so tests can drive days and months without sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that can also wake code up at a wall-clock instant. The scheduler takes one of these so
 * that tests drive days of schedules by moving a ManualClock, and production uses real timers.
 */
export interface TimerClock extends Clock {
  /**
   * Calls `fn` once, as soon as `now() >= atMs` (immediately, asynchronously, when that is already
   * true). Returns a function that cancels the timer; cancelling twice or after firing is harmless.
   */
  setTimer(atMs: number, fn: () => void): () => void;
  /**
   * Calls `listener` when the wall clock is stepped: moved against elapsed real time (NTP stepping
   * it, an operator setting it, a resume from suspend), with the step in ms (negative = back).
   * Returns a function that removes the listener. Optional: a clock that cannot tell omits it.
   */
  onStep?(listener: (deltaMs: number) => void): () => void;
}

/** A wall-clock step smaller than this is drift or timer lateness, not a step (ms). */
export const CLOCK_STEP_THRESHOLD_MS = 2_000;

export interface SystemTimerClockOptions {
  /**
   * Longest single sleep, in ms. Timers wake at least this often and re-check the wall clock, so a
   * wall-clock jump (NTP step, manual change) or a suspended machine delays a timer by at most this
   * much. Also keeps every sleep far below setTimeout's 2^31-1 ms (~24.8 days) limit. Default 60 s.
   */
  maxSleepMs?: number;
  /** Unref the timers so they alone do not keep the process alive. Default false. */
  unref?: boolean;
  /** The wall clock to read; tests may pass one that jumps. Default Date.now. */
  now?: () => number;
  /** Elapsed real time, never stepped (ms); steps are found against it. Default performance.now. */
  monotonic?: () => number;
}

// setTimeout treats any delay above 2^31-1 ms as 1 ms, so a long sleep must be cut into pieces.
const MAX_SET_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The real clock with real timers. setTimeout measures a monotonic interval, not wall time, so a
 * timer re-arms itself in chunks of at most `maxSleepMs` and fires only once the wall clock has
 * reached the target: a clock stepped back makes it wait longer, a clock stepped forward (or a
 * resume from suspend) makes it fire within one chunk.
 */
export class SystemTimerClock implements TimerClock {
  private readonly maxSleepMs: number;
  private readonly unref: boolean;
  private readonly wall: () => number;
  private readonly monotonic: () => number;
  private readonly stepListeners = new Set<(deltaMs: number) => void>();
  /** The last (wall, monotonic) pair a timer saw: a step shows as the two moving apart. */
  private lastSeen: { wall: number; mono: number } | undefined;

  constructor(options: SystemTimerClockOptions = {}) {
    const max = options.maxSleepMs ?? 60_000;
    this.maxSleepMs = Math.max(
      1,
      Math.min(Number.isFinite(max) ? max : MAX_SET_TIMEOUT_MS, MAX_SET_TIMEOUT_MS),
    );
    this.unref = options.unref ?? false;
    this.wall = options.now ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  /**
   * Steps are noticed when a timer wakes (at least every `maxSleepMs` while any timer is armed,
   * which in serve is always), so within a minute by default.
   */
  onStep(listener: (deltaMs: number) => void): () => void {
    this.stepListeners.add(listener);
    this.lastSeen ??= { wall: this.wall(), mono: this.monotonic() };
    return () => this.stepListeners.delete(listener);
  }

  /** Compares wall and monotonic time with the last look; reports a step to the listeners. */
  private observe(): void {
    if (this.stepListeners.size === 0) return;
    const seen = { wall: this.wall(), mono: this.monotonic() };
    const last = this.lastSeen;
    this.lastSeen = seen;
    if (!last) return;
    const step = seen.wall - last.wall - (seen.mono - last.mono);
    if (Math.abs(step) < CLOCK_STEP_THRESHOLD_MS) return;
    for (const listener of [...this.stepListeners]) listener(step);
  }

  now(): number {
    return this.wall();
  }

  setTimer(atMs: number, fn: () => void): () => void {
    let handle: NodeJS.Timeout | undefined;
    let done = false;
    const arm = (): void => {
      if (done) return;
      this.observe(); // a listener may cancel this very timer (the scheduler re-plans)
      if (done) return;
      const remaining = atMs - this.wall();
      if (remaining <= 0) {
        done = true;
        fn();
        return;
      }
      // Node may wake a timer a millisecond before Date.now() reaches the target: sleep at least 1 ms.
      handle = setTimeout(arm, Math.max(1, Math.min(remaining, this.maxSleepMs)));
      if (this.unref) handle.unref();
    };
    // Always asynchronous, also when already due, so callers never re-enter themselves.
    handle = setTimeout(arm, 0);
    if (this.unref) handle.unref();
    return () => {
      done = true;
      if (handle !== undefined) clearTimeout(handle);
    };
  }
}

/** The real clock with real timers and default options. */
export const systemTimerClock: TimerClock = new SystemTimerClock();

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock tests move by hand. It is also a TimerClock: moving it forward (advance, set,
 * advanceAsync, setAsync) fires every timer that comes due on the way, in time order (ties in the
 * order they were set), with now() equal to each timer's instant while it fires. A timer set for a
 * time already reached fires on the next microtask, like a zero-delay real timer.
 */
export class ManualClock implements TimerClock {
  private timers: ManualTimer[] = [];
  private seq = 0;
  private readonly stepListeners = new Set<(deltaMs: number) => void>();

  constructor(private current: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current;
  }
  /** Jump to an absolute time (ms or Date), firing the timers due on the way. Moving back fires none. */
  set(to: number | Date): void {
    this.runUntil(typeof to === 'number' ? to : to.getTime());
  }
  /**
   * Steps the wall clock by `deltaMs` (negative = back) as NTP or an operator would: no time
   * elapses, the step listeners hear of it, then timers already due (after a step forward) fire.
   */
  async step(deltaMs: number): Promise<void> {
    this.current += deltaMs;
    for (const listener of [...this.stepListeners]) listener(deltaMs);
    await this.runUntilAsync(this.current);
  }

  onStep(listener: (deltaMs: number) => void): () => void {
    this.stepListeners.add(listener);
    return () => this.stepListeners.delete(listener);
  }

  /** Move forward by `ms`, firing the timers due on the way. */
  advance(ms: number): void {
    this.runUntil(this.current + ms);
  }
  /**
   * Move forward by `ms` like advance(), but let promises and other pending callbacks settle before
   * and after each timer fires, so async work started by one timer (a job, a state save) finishes
   * or sets its own timers before the next one fires.
   */
  async advanceAsync(ms: number): Promise<void> {
    await this.runUntilAsync(this.current + ms);
  }
  /** Jump to an absolute time like set(), settling async work between timers like advanceAsync(). */
  async setAsync(to: number | Date): Promise<void> {
    await this.runUntilAsync(typeof to === 'number' ? to : to.getTime());
  }

  setTimer(atMs: number, fn: () => void): () => void {
    const timer: ManualTimer = { at: atMs, seq: this.seq++, fn };
    this.timers.push(timer);
    if (atMs <= this.current) queueMicrotask(() => this.fire(timer));
    return () => this.remove(timer);
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** The instant of the earliest pending timer, or undefined when none is set. */
  nextTimerAt(): number | undefined {
    return this.earliest(Infinity)?.at;
  }

  private earliest(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.at > limit) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private remove(timer: ManualTimer): boolean {
    const i = this.timers.indexOf(timer);
    if (i < 0) return false;
    this.timers.splice(i, 1);
    return true;
  }

  private fire(timer: ManualTimer): void {
    if (!this.remove(timer)) return; // cancelled or already fired
    if (timer.at > this.current) this.current = timer.at;
    timer.fn();
  }

  private runUntil(target: number): void {
    for (let t = this.earliest(target); t; t = this.earliest(target)) this.fire(t);
    this.current = target;
  }

  private async runUntilAsync(target: number): Promise<void> {
    await settle();
    for (let t = this.earliest(target); t; t = this.earliest(target)) {
      this.fire(t);
      await settle();
    }
    this.current = target;
    await settle();
  }
}

/**
 * Lets queued promise callbacks and immediates run: a few turns of the event loop, each draining
 * the microtask queue. Enough for in-memory async work; real I/O may need more (await it directly).
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
