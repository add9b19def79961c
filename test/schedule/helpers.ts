/** Shared pieces of the scheduler tests: a recording harness around a ManualClock. */
import { ManualClock, type TimerClock } from '../../src/clock.js';
import {
  Scheduler,
  type JobOutcome,
  type JobSpec,
  type SchedulerEvent,
  type SchedulerOptions,
} from '../../src/schedule/scheduler.js';
import { MemoryStateStore, type SchedulerState } from '../../src/schedule/state.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A run as the job itself saw it. */
export interface SeenRun {
  job: string;
  start: number;
  end?: number;
  aborted?: boolean;
}

/** Resolves after `ms` of (fake or real) clock time; rejects with an AbortError when `signal` aborts. */
export function sleepOn(clock: TimerClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const cancel = clock.setTimer(clock.now() + ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    const onAbort = (): void => {
      cancel();
      reject(new DOMException('aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface TestJob {
  name: string;
  cron: string;
  /** Fake time the run takes. Default 0. */
  durationMs?: number;
  catchUp?: boolean;
  /** Called at the start of each run; throw to fail the run, return an outcome to report one. */
  behaviour?: (runIndex: number, now: number) => JobOutcome | void;
}

/** A scheduler on a ManualClock, with every run and event recorded and overlap detected. */
export class Harness {
  readonly clock: ManualClock;
  readonly store: MemoryStateStore;
  readonly events: SchedulerEvent[] = [];
  readonly runs: SeenRun[] = [];
  /** Highest number of runs in progress at once. */
  maxConcurrent = 0;
  private inFlight = 0;
  scheduler: Scheduler;

  constructor(
    private readonly opts: {
      start: number;
      timezone: string;
      jobs: TestJob[];
      state?: SchedulerState;
      store?: MemoryStateStore;
      catchUpDelayMs?: number;
      extra?: Partial<SchedulerOptions>;
    },
  ) {
    this.clock = new ManualClock(opts.start);
    this.store = opts.store ?? new MemoryStateStore(opts.state);
    this.scheduler = this.build();
  }

  /** A fresh Scheduler on the same clock and store (a restart of serve). */
  build(): Scheduler {
    const counts = new Map<string, number>();
    const jobs: JobSpec[] = this.opts.jobs.map((j) => ({
      name: j.name,
      cron: j.cron,
      ...(j.catchUp !== undefined ? { catchUp: j.catchUp } : {}),
      run: async (signal) => {
        const index = counts.get(j.name) ?? 0;
        counts.set(j.name, index + 1);
        const seen: SeenRun = { job: j.name, start: this.clock.now() };
        this.runs.push(seen);
        this.inFlight++;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
        try {
          const outcome = j.behaviour?.(index, this.clock.now());
          if (j.durationMs) await sleepOn(this.clock, j.durationMs, signal);
          seen.end = this.clock.now();
          return outcome;
        } catch (err) {
          seen.aborted = signal.aborted;
          throw err;
        } finally {
          this.inFlight--;
        }
      },
    }));
    this.scheduler = new Scheduler({
      clock: this.clock,
      timezone: this.opts.timezone,
      jobs,
      state: this.store,
      catchUpDelayMs: this.opts.catchUpDelayMs ?? 0,
      onEvent: (e) => this.events.push(e),
      ...this.opts.extra,
    });
    return this.scheduler;
  }

  /** Start instants (ISO) of one job's runs. */
  startsOf(job: string): string[] {
    return this.runs.filter((r) => r.job === job).map((r) => new Date(r.start).toISOString());
  }

  eventsOf<T extends SchedulerEvent['type']>(type: T): Array<Extract<SchedulerEvent, { type: T }>> {
    return this.events.filter((e): e is Extract<SchedulerEvent, { type: T }> => e.type === type);
  }
}

/** "YYYY-MM-DD" of an instant in a time zone. */
export function localDay(ms: number, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(ms);
}

/** "HH:MM" of an instant in a time zone. */
export function localTime(ms: number, timezone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(ms);
}

/** Runs of `job` counted per local day. */
export function runsPerDay(runs: SeenRun[], job: string, timezone: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of runs)
    if (r.job === job) out[localDay(r.start, timezone)] = (out[localDay(r.start, timezone)] ?? 0) + 1;
  return out;
}

/** A state in which every named job last succeeded at `at` (so nothing is caught up). */
export function stateWithLastSuccess(entries: Record<string, string>): SchedulerState {
  const jobs: SchedulerState['jobs'] = {};
  for (const [name, at] of Object.entries(entries)) {
    const record = {
      slot: at,
      reason: 'schedule' as const,
      startedAt: at,
      endedAt: at,
      durationMs: 0,
      outcome: 'success' as const,
    };
    jobs[name] = { lastRun: record, lastSuccess: record, consecutiveFailures: 0 };
  }
  return { version: 1, jobs };
}
