/**
 * The scheduling core of `safetynet serve`: runs injected jobs at their cron slots in one time
 * zone, one job at a time, catching up slots missed while the process was down. It knows nothing
 * of backups; the jobs are functions. Time comes from an injected TimerClock, so tests drive days
 * and months with a ManualClock. Semantics are written down in docs/scheduler.md.
 */
import * as os from 'node:os';
import type { TimerClock } from '../clock.js';
import { ConfigError, SafetynetError, UsageError } from '../errors.js';
import { parseSchedule, type CronSchedule } from './cron.js';
import type { InstanceLock } from './instance-lock.js';
import {
  jobState,
  lastAttemptMs,
  type JobRunRecord,
  type JobState,
  type RunOutcome,
  type RunReason,
  type SchedulerState,
  type SchedulerStateStore,
  type StoredError,
  emptyState,
} from './state.js';

/** What a job may report about a run. Returning nothing means success. */
export interface JobOutcome {
  /** `failed` lets a job report failure without throwing (a restore test whose check failed). */
  status?: 'success' | 'failed';
  /** One line for the log and status pages, e.g. "snapshot 3f2a1c, 1.2 GiB in 41 s". */
  summary?: string;
  /** Facts kept in the scheduler state; must be JSON-serialisable. */
  details?: Record<string, unknown>;
}

/** A job the scheduler runs. */
export interface JobSpec {
  /** Unique; the key in the state and in events. */
  name: string;
  /** Cron expression, 5 fields (or 6 with seconds first), read in the scheduler's time zone. */
  cron: string;
  /**
   * Does the work. Should stop promptly (and reject) when `signal` aborts, leaving nothing
   * half-done behind. A rejection is recorded as a failure and never stops the scheduler.
   */
  run: (signal: AbortSignal, context: { reason: RunReason }) => Promise<JobOutcome | void>;
  /** Run once at start when a slot was missed while the scheduler was down. Default true. */
  catchUp?: boolean;
}

/** Everything the scheduler reports. serve turns these into log entries. */
export type SchedulerEvent =
  | { type: 'scheduler-start'; at: string; catchUp: string[] }
  | {
      /** A run was in progress when the previous process ended (crash, kill -9, power loss). */
      type: 'run-interrupted';
      job: string;
      record: JobRunRecord;
    }
  | {
      type: 'job-start';
      job: string;
      reason: RunReason;
      /** The scheduled instant this run serves (ISO). */
      slot: string;
      startedAt: string;
      /** How long after its slot the run started (waiting for another job, catch-up). */
      lateMs: number;
      /** Further slots of this job that passed while it waited and are served by this one run. */
      coalescedSlots: number;
    }
  | ({
      type: 'job-end';
      job: string;
      error?: Error;
      /** Failed runs since the last success, this one included. */
      consecutiveFailures: number;
    } & Omit<JobRunRecord, 'error'>)
  | {
      /**
       * The wall clock was stepped (NTP, an operator, a resume from suspend) by `deltaMs` (negative =
       * back). Interval jobs keep their pace in the new time; a job is never run again sooner than
       * half its interval after its last run (a daily job does not run twice when the clock goes back).
       */
      type: 'clock-step';
      at: string;
      deltaMs: number;
      /** Each planned job's next run after the step (ISO; null when it has none). */
      next: { job: string; at: string | null }[];
    }
  | {
      /** The scheduler itself hit a problem (state not saved, lock not released); it goes on. */
      type: 'scheduler-error';
      message: string;
      error: Error;
    }
  | {
      type: 'scheduler-stop';
      at: string;
      abortedJob?: string;
      /** Stopped on its own because the instance lock was lost (serve then exits non-zero). */
      lockLost?: boolean;
    };

export interface SchedulerOptions {
  clock: TimerClock;
  /** IANA time zone the cron expressions are read in (backup.timezone). */
  timezone: string;
  /** Earlier jobs win ties: at the same instant, and in the order of catch-up runs at start. */
  jobs: JobSpec[];
  state: SchedulerStateStore;
  /** Held from start() until stop() resolves; serve passes the repository's lock. */
  lock?: InstanceLock;
  onEvent?: (event: SchedulerEvent) => void;
  /**
   * Catch-up runs start this long after start() (default 10 s), so the rest of serve is up first
   * and a job that crashes the process does not restart-loop at full speed.
   */
  catchUpDelayMs?: number;
}

/** A job's next planned run, for status pages. */
export interface NextRun {
  name: string;
  cron: string;
  /** ISO instant, or null when the expression has no future slot or the scheduler is stopped. */
  at: string | null;
  reason: RunReason | null;
  running: boolean;
}

interface Pending {
  dueAt: number;
  slot: number;
  reason: RunReason;
}

interface Entry {
  spec: JobSpec;
  schedule: CronSchedule;
  pending: Pending | null;
  /**
   * When this process last started the job, on the wall clock as it reads now (moved with every
   * clock step). The state file's times may come from before a step, in another process.
   */
  lastStartedAt?: number;
}

interface Current {
  entry: Entry;
  slot: number;
  reason: RunReason;
  startedAt: number;
  /** Where the next slot is counted from: startedAt, moved with any clock step during the run. */
  planFrom: number;
  /** The wall clock was stepped back while this run ran. */
  steppedBack: boolean;
  controller: AbortController;
  done: Promise<void>;
}

type Phase = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

// Counting coalesced slots walks the schedule; a cap keeps a long stall of an every-second job cheap.
const MAX_COALESCED_COUNT = 10_000;

/** Runs jobs on cron schedules, one at a time. See docs/scheduler.md. */
export class Scheduler {
  private readonly clock: TimerClock;
  private readonly store: SchedulerStateStore;
  private readonly lock: InstanceLock | undefined;
  private readonly onEvent: ((event: SchedulerEvent) => void) | undefined;
  private readonly catchUpDelayMs: number;
  private readonly entries: Entry[];
  private phase: Phase = 'new';
  private state: SchedulerState = emptyState();
  private current: Current | undefined;
  private cancelTimer: (() => void) | undefined;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private saveChain: Promise<void> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];
  private lockHeld = false;
  private lockLost = false;
  private stoppedWaiters: Array<(r: { lockLost: boolean }) => void> = [];
  private stopWatchingSteps: (() => void) | undefined;

  /** Validates every job (unique names, valid cron) and throws a ConfigError naming the job. */
  constructor(options: SchedulerOptions) {
    this.clock = options.clock;
    this.store = options.state;
    this.lock = options.lock;
    this.onEvent = options.onEvent;
    this.catchUpDelayMs = Math.max(0, options.catchUpDelayMs ?? 10_000);
    const seen = new Set<string>();
    this.entries = options.jobs.map((spec, index) => {
      if (!spec.name) {
        throw new ConfigError('E_CONFIG_VALUE', `scheduler job #${index + 1} has no name`, {
          hint: 'give every job a name',
        });
      }
      if (seen.has(spec.name)) {
        throw new ConfigError('E_CONFIG_VALUE', `two scheduler jobs are named "${spec.name}"`, {
          hint: 'job names must be unique',
        });
      }
      seen.add(spec.name);
      return {
        spec,
        schedule: parseSchedule(spec.cron, options.timezone, `job "${spec.name}" schedule`),
        pending: null,
      };
    });
  }

  /**
   * Takes the instance lock, loads the state, records runs a previous process left unfinished,
   * plans catch-up runs and starts waiting for slots. Throws (LockError E_SERVE_RUNNING) when
   * another scheduler holds the lock; nothing runs then.
   */
  start(): Promise<void> {
    if (this.phase !== 'new') {
      return Promise.reject(new Error(`Scheduler.start() called while ${this.phase}`));
    }
    this.phase = 'starting';
    this.startPromise = this.doStart();
    return this.startPromise;
  }

  private async doStart(): Promise<void> {
    try {
      await this.lock?.acquire();
      this.lockHeld = this.lock !== undefined;
      this.lock?.lost?.addEventListener('abort', () => this.onLockLost(), { once: true });
      this.state = await this.store.load();
    } catch (err) {
      await this.releaseLock();
      if (this.phase === 'starting') this.phase = 'new'; // may try start() again
      throw err;
    }
    const now = this.clock.now();
    const interrupted = this.recordInterruptedRuns(now);
    const catchUp: string[] = [];
    for (const entry of this.entries) {
      const next = entry.schedule.next(now);
      const missed = entry.spec.catchUp === false ? null : this.missedSlot(entry, now);
      if (missed !== null) {
        catchUp.push(entry.spec.name);
        const dueAt = Math.min(now + this.catchUpDelayMs, next ?? Infinity);
        entry.pending = { dueAt, slot: missed, reason: 'catch-up' };
      } else {
        entry.pending = next === null ? null : { dueAt: next, slot: next, reason: 'schedule' };
      }
    }
    if (interrupted) await this.persist();
    if (this.phase !== 'starting') return; // stop() was called meanwhile; it finishes the shutdown
    this.phase = 'running';
    this.stopWatchingSteps = this.clock.onStep?.((deltaMs) => this.onClockStep(deltaMs));
    this.emit({ type: 'scheduler-start', at: iso(now), catchUp });
    this.pump();
  }

  /**
   * Stops taking new runs and resolves when idle, with the lock released. The running job is
   * awaited, or with `abortRunning` its AbortSignal fires first (it is then recorded as aborted
   * and caught up at the next start). Calling it again returns the same promise.
   */
  stop(options: { abortRunning?: boolean } = {}): Promise<void> {
    if (this.stopPromise) {
      if (options.abortRunning) this.current?.controller.abort();
      return this.stopPromise;
    }
    if (this.phase === 'new') {
      this.phase = 'stopped';
      this.stopPromise = Promise.resolve();
      return this.stopPromise;
    }
    this.phase = 'stopping';
    this.stopPromise = this.doStop(options.abortRunning ?? false);
    return this.stopPromise;
  }

  private async doStop(abortRunning: boolean): Promise<void> {
    await this.startPromise?.catch(() => undefined);
    this.stopWatchingSteps?.();
    this.stopWatchingSteps = undefined;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const running = this.current;
    if (running && abortRunning) running.controller.abort();
    if (running) await running.done;
    await this.saveChain;
    await this.releaseLock();
    for (const entry of this.entries) entry.pending = null;
    this.phase = 'stopped';
    this.emit({
      type: 'scheduler-stop',
      at: iso(this.clock.now()),
      ...(running && abortRunning ? { abortedJob: running.entry.spec.name } : {}),
      ...(this.lockLost ? { lockLost: true } : {}),
    });
    for (const resolve of this.stoppedWaiters.splice(0)) resolve({ lockLost: this.lockLost });
  }

  /** Resolves when the scheduler has stopped, also when it stopped on its own (lock lost). */
  whenStopped(): Promise<{ lockLost: boolean }> {
    if (this.phase === 'stopped') return Promise.resolve({ lockLost: this.lockLost });
    return new Promise((resolve) => this.stoppedWaiters.push(resolve));
  }

  /**
   * The instance lock could not be kept: another serve may take over, so this one must not run
   * another job. The running job is aborted and the scheduler stops.
   */
  private onLockLost(): void {
    if (this.phase === 'stopping' || this.phase === 'stopped') return;
    this.lockLost = true;
    this.emit({
      type: 'scheduler-error',
      message: 'lost the instance lock (its lease could not be renewed); stopping',
      error: toError(this.lock?.lost?.reason ?? new Error('instance lock lost')),
    });
    void this.stop({ abortRunning: true });
  }

  /**
   * Asks for a run of `name` as soon as the scheduler is free (an on-demand restore test, say).
   * It waits its turn like any due slot and does not move the job's regular slots.
   */
  trigger(name: string): void {
    const entry = this.entries.find((e) => e.spec.name === name);
    if (!entry) {
      throw new UsageError('E_UNKNOWN_JOB', `there is no scheduled job named "${name}"`, {
        hint: `use one of: ${this.entries.map((e) => e.spec.name).join(', ')}`,
      });
    }
    if (this.phase !== 'running') {
      throw new SafetynetError(
        'E_SCHEDULER_NOT_RUNNING',
        `the scheduler is ${this.phase}; cannot run "${name}" now`,
      );
    }
    const now = this.clock.now();
    if (!entry.pending || entry.pending.dueAt > now)
      entry.pending = { dueAt: now, slot: now, reason: 'manual' };
    this.pump();
  }

  /** Each job's next planned run, in job order. */
  nextRuns(): NextRun[] {
    const now = this.clock.now();
    return this.entries.map((entry) => {
      const running = this.current?.entry === entry;
      let planned: { at: number; reason: RunReason } | null = null;
      if (entry.pending) planned = { at: entry.pending.dueAt, reason: entry.pending.reason };
      else if (this.phase === 'new' || running) {
        const next = entry.schedule.next(running ? this.current!.startedAt : now);
        if (next !== null) planned = { at: next, reason: 'schedule' };
      }
      return {
        name: entry.spec.name,
        cron: entry.spec.cron,
        at: planned ? iso(planned.at) : null,
        reason: planned?.reason ?? null,
        running,
      };
    });
  }

  /** Each configured job's remembered runs (last run, last success, last failure), in job order. */
  lastRuns(): Array<{ name: string } & JobState> {
    return this.entries.map((e) => ({
      name: e.spec.name,
      ...structuredClone(this.state.jobs[e.spec.name] ?? { consecutiveFailures: 0 }),
    }));
  }

  /** The run in progress, if any. */
  running(): { name: string; reason: RunReason; slot: string; startedAt: string } | null {
    const c = this.current;
    return c
      ? { name: c.entry.spec.name, reason: c.reason, slot: iso(c.slot), startedAt: iso(c.startedAt) }
      : null;
  }

  /** Resolves when no job is running (at once when none is). */
  idle(): Promise<void> {
    if (!this.current) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---------------------------------------------------------------------------------------------

  private async releaseLock(): Promise<void> {
    if (!this.lockHeld) return;
    this.lockHeld = false;
    try {
      await this.lock?.release();
    } catch (err) {
      this.emit({
        type: 'scheduler-error',
        message: 'could not release the instance lock',
        error: toError(err),
      });
    }
  }

  /** Marks runs the state says were in progress as interrupted. True when any was found. */
  private recordInterruptedRuns(now: number): boolean {
    let found = false;
    for (const [name, js] of Object.entries(this.state.jobs)) {
      const r = js.running;
      if (!r) continue;
      found = true;
      delete js.running;
      const record: JobRunRecord = {
        slot: r.slot,
        reason: r.reason,
        startedAt: r.startedAt,
        outcome: 'interrupted',
        summary: `the process ended during this run (noticed at ${iso(now)})`,
      };
      js.lastRun = record;
      this.emit({ type: 'run-interrupted', job: name, record });
    }
    return found;
  }

  /** The newest slot at or before `now` that no run has attempted yet, or null. */
  private missedSlot(entry: Entry, now: number): number | null {
    const newest = entry.schedule.newestAtOrBefore(now);
    if (newest === null) return null;
    const last = lastAttemptMs(this.state.jobs[entry.spec.name]);
    return last === undefined || newest > last ? newest : null;
  }

  /**
   * The wall clock moved by `deltaMs` against real time. Scheduled runs are planned again from the
   * new time: after a step back, waiting for the old slot would leave an hourly backup out for the
   * length of the step (an RPO breach), so interval jobs go on at their pace in the new time; a
   * slot closer than half the job's interval to its last run (moved by the step) is skipped, so a
   * daily job does not run twice. Catch-up and manual runs keep their place in real time. After a
   * step forward the slots that passed are due now and run once each, as after a pause.
   */
  private onClockStep(deltaMs: number): void {
    if (this.phase !== 'running') return;
    const now = this.clock.now();
    if (this.current) {
      this.current.planFrom += deltaMs;
      if (deltaMs < 0) this.current.steppedBack = true;
    }
    for (const entry of this.entries) {
      if (entry.lastStartedAt !== undefined) entry.lastStartedAt += deltaMs;
      const p = entry.pending;
      if (!p) continue;
      if (p.reason !== 'schedule') {
        entry.pending = { ...p, dueAt: p.dueAt + deltaMs, slot: p.slot + deltaMs };
        continue;
      }
      if (deltaMs > 0) continue;
      const next = this.nextSlotAfterStep(entry.schedule, now, this.lastStartAfterStep(entry, now, deltaMs));
      entry.pending = next === null ? null : { dueAt: next, slot: next, reason: 'schedule' };
    }
    this.emit({
      type: 'clock-step',
      at: iso(now),
      deltaMs,
      next: this.entries.map((e) => ({
        job: e.spec.name,
        at: e.pending ? iso(e.pending.dueAt) : null,
      })),
    });
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.pump();
  }

  /**
   * When the job last started, on the clock as it reads after a step: this process's own record, else
   * the state file's (recorded before the step). A time after `now` comes from another timeline (an
   * earlier step, another process): it counts as "just now".
   */
  private lastStartAfterStep(entry: Entry, now: number, deltaMs: number): number | undefined {
    const stored = lastAttemptMs(this.state.jobs[entry.spec.name]);
    const last = entry.lastStartedAt ?? (stored === undefined ? undefined : stored + deltaMs);
    return last === undefined ? undefined : Math.min(last, now);
  }

  /** The first slot after `now` at least half an interval after `lastRun` (in the new time). */
  private nextSlotAfterStep(schedule: CronSchedule, now: number, lastRun: number | undefined): number | null {
    let slot = schedule.next(now);
    for (let i = 0; slot !== null && lastRun !== undefined && i < MAX_COALESCED_COUNT; i++) {
      const following = schedule.next(slot);
      const interval = following === null ? Infinity : following - slot;
      if (slot - lastRun >= interval / 2) break;
      slot = following;
    }
    return slot;
  }

  /** Starts the most urgent due run, or sleeps until the next one is due. */
  private pump(): void {
    if (this.phase !== 'running' || this.current) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const now = this.clock.now();
    let due: Entry | undefined;
    let earliest = Infinity;
    for (const entry of this.entries) {
      const p = entry.pending;
      if (!p) continue;
      earliest = Math.min(earliest, p.dueAt);
      if (p.dueAt <= now && (!due || p.dueAt < due.pending!.dueAt)) due = entry; // ties: job order
    }
    if (due) {
      this.startRun(due, now);
      return;
    }
    if (earliest !== Infinity) {
      this.cancelTimer = this.clock.setTimer(earliest, () => {
        this.cancelTimer = undefined;
        this.pump();
      });
    }
  }

  private startRun(entry: Entry, now: number): void {
    const pending = entry.pending!;
    entry.pending = null;
    entry.lastStartedAt = now;
    const controller = new AbortController();
    const current: Current = {
      entry,
      slot: pending.slot,
      reason: pending.reason,
      startedAt: now,
      planFrom: now,
      steppedBack: false,
      controller,
      done: Promise.resolve(),
    };
    this.current = current;
    current.done = this.execute(current)
      .catch((err: unknown) => {
        // execute() handles job errors itself; this is a bug guard so the scheduler lives on.
        this.emit({
          type: 'scheduler-error',
          message: `internal error around job "${entry.spec.name}"`,
          error: toError(err),
        });
      })
      .finally(() => {
        // The next slot counts from this run's start: slots that passed while it ran or waited
        // are served by this run (no stacking). A trigger() during the run is kept if earlier.
        const next = current.steppedBack
          ? this.nextSlotAfterStep(entry.schedule, this.clock.now(), current.planFrom)
          : entry.schedule.next(current.planFrom);
        const regular: Pending | null =
          next === null ? null : { dueAt: next, slot: next, reason: 'schedule' };
        if (!entry.pending || (regular && regular.dueAt < entry.pending.dueAt)) entry.pending = regular;
        if (this.phase !== 'running') entry.pending = null;
        this.current = undefined;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        this.pump();
      });
  }

  private async execute(c: Current): Promise<void> {
    const name = c.entry.spec.name;
    const js = jobState(this.state, name);
    js.running = {
      slot: iso(c.slot),
      reason: c.reason,
      startedAt: iso(c.startedAt),
      pid: process.pid,
      host: os.hostname(),
    };
    this.emit({
      type: 'job-start',
      job: name,
      reason: c.reason,
      slot: iso(c.slot),
      startedAt: iso(c.startedAt),
      lateMs: Math.max(0, c.startedAt - c.slot),
      coalescedSlots: c.reason === 'schedule' ? this.countSlots(c.entry.schedule, c.slot, c.startedAt) : 0,
    });
    // Persist "running" before the work, so a crash mid-run is seen (and caught up) next start.
    await this.persist();

    let outcome: RunOutcome;
    let result: JobOutcome | void = undefined;
    let error: Error | undefined;
    try {
      // Promise.resolve().then: a job that throws synchronously is a rejection like any other.
      result = await Promise.resolve().then(() =>
        c.entry.spec.run(c.controller.signal, { reason: c.reason }),
      );
      outcome = result?.status === 'failed' ? 'failed' : 'success';
    } catch (err) {
      error = toError(err);
      outcome = c.controller.signal.aborted ? 'aborted' : 'failed';
    }
    const endedAt = this.clock.now();
    const record: JobRunRecord = {
      slot: iso(c.slot),
      reason: c.reason,
      startedAt: iso(c.startedAt),
      endedAt: iso(endedAt),
      durationMs: Math.max(0, endedAt - c.startedAt),
      outcome,
      ...(result?.summary !== undefined ? { summary: result.summary } : {}),
      ...(result?.details !== undefined ? { details: result.details } : {}),
      ...(error ? { error: storedError(error) } : {}),
    };
    delete js.running;
    js.lastRun = record;
    if (outcome === 'success') {
      js.lastSuccess = record;
      js.consecutiveFailures = 0;
    } else if (outcome === 'failed') {
      js.lastFailure = record;
      js.consecutiveFailures = (js.consecutiveFailures ?? 0) + 1;
    }
    const { error: _stored, ...flat } = record;
    this.emit({
      type: 'job-end',
      job: name,
      ...flat,
      consecutiveFailures: js.consecutiveFailures,
      ...(error ? { error } : {}),
    });
    await this.persist();
  }

  /** Slots s with from < s <= to (capped). */
  private countSlots(schedule: CronSchedule, from: number, to: number): number {
    let n = 0;
    for (let s = schedule.next(from); s !== null && s <= to && n < MAX_COALESCED_COUNT; s = schedule.next(s))
      n++;
    return n;
  }

  /** Saves the state, one save at a time; a failed save is reported and does not stop anything. */
  private persist(): Promise<void> {
    const snapshot = structuredClone(this.state);
    this.saveChain = this.saveChain.then(() =>
      this.store.save(snapshot).catch((err: unknown) => {
        this.emit({
          type: 'scheduler-error',
          message: 'could not save the scheduler state',
          error: toError(err),
        });
      }),
    );
    return this.saveChain;
  }

  private emit(event: SchedulerEvent): void {
    if (!this.onEvent) return;
    try {
      const r = this.onEvent(event) as unknown;
      // A listener is typed sync; if it returns a promise anyway, its rejection must not go unhandled.
      if (r instanceof Promise) r.catch(() => undefined);
    } catch {
      // A faulty listener must not stop backups.
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : `non-error thrown: ${safeString(err)}`);
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function storedError(err: Error): StoredError {
  const out: StoredError = { name: err.name, message: err.message };
  if (err instanceof SafetynetError) {
    out.code = err.code;
    if (err.hint) out.hint = err.hint;
  } else if (typeof (err as NodeJS.ErrnoException).code === 'string') {
    out.code = (err as NodeJS.ErrnoException).code!;
  }
  return out;
}
