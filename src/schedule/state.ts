/**
 * What the scheduler remembers between runs of `safetynet serve`: per job, the run in progress (so
 * a crash mid-run is noticed at the next start), the last run, the last success and the last
 * failure. Catch-up after downtime and `status` both read this. Stored through an injected
 * SchedulerStateStore; a JSON file and an in-memory store are given here.
 */
import { promises as fsp } from 'node:fs';
import { SafetynetError, isErrno } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

export const SCHEDULER_STATE_VERSION = 1;

/** Why a run started. */
export type RunReason = 'schedule' | 'catch-up' | 'manual';

/**
 * How a run ended. `aborted`: stop({ abortRunning: true }) cancelled it. `interrupted`: the process
 * ended while it ran (found at the next start). Neither counts as having done the slot's work, so
 * both are caught up at the next start.
 */
export type RunOutcome = 'success' | 'failed' | 'aborted' | 'interrupted';

/** An error as kept in the state file (no stack: the log entry of the run has it). */
export interface StoredError {
  name: string;
  message: string;
  code?: string;
  hint?: string;
}

/** One finished run of a job. Times are ISO 8601 UTC. */
export interface JobRunRecord {
  /** The slot (scheduled instant) this run served; for a catch-up, the newest missed slot. */
  slot: string;
  reason: RunReason;
  startedAt: string;
  /** Absent only for `interrupted` runs, whose end nobody saw. */
  endedAt?: string;
  /** Absent only for `interrupted` runs. */
  durationMs?: number;
  outcome: RunOutcome;
  /** One line from the job's JobOutcome, e.g. "snapshot 3f2a1c, 1.2 GiB". */
  summary?: string;
  details?: Record<string, unknown>;
  error?: StoredError;
}

/** A run written at its start and removed at its end. */
export interface RunningRecord {
  slot: string;
  reason: RunReason;
  startedAt: string;
  /** Process and host of the scheduler that ran it (helps when reading a stale record). */
  pid?: number;
  host?: string;
}

export interface JobState {
  running?: RunningRecord;
  /** The newest finished run, whatever its outcome. */
  lastRun?: JobRunRecord;
  lastSuccess?: JobRunRecord;
  /** The newest run with outcome `failed`. */
  lastFailure?: JobRunRecord;
  /** Failed runs since the last success (0 after a success). */
  consecutiveFailures: number;
}

export interface SchedulerState {
  version: typeof SCHEDULER_STATE_VERSION;
  /** By job name. Jobs no longer configured are kept, not dropped. */
  jobs: Record<string, JobState>;
}

/** Where the scheduler keeps its state. load() of a store never written returns an empty state. */
export interface SchedulerStateStore {
  load(): Promise<SchedulerState>;
  save(state: SchedulerState): Promise<void>;
}

/** A state with no jobs. */
export function emptyState(): SchedulerState {
  return { version: SCHEDULER_STATE_VERSION, jobs: {} };
}

/** The job's entry in `state`, created empty when missing. */
export function jobState(state: SchedulerState, name: string): JobState {
  let js = state.jobs[name];
  if (!js) {
    js = { consecutiveFailures: 0 };
    state.jobs[name] = js;
  }
  return js;
}

/**
 * The start (epoch ms) of the newest run that did the job's work, successfully or not; undefined
 * when there is none. A slot after this instant has not been attempted yet: catch-up runs it.
 */
export function lastAttemptMs(js: JobState | undefined): number | undefined {
  let best: number | undefined;
  for (const r of [js?.lastSuccess, js?.lastFailure]) {
    const t = r ? Date.parse(r.startedAt) : NaN;
    if (!Number.isNaN(t) && (best === undefined || t > best)) best = t;
  }
  return best;
}

/**
 * Checks the shape of a parsed state file and fills defaults, keeping what it does not know.
 * Throws on a state written by a newer safetynet (refusing beats silently overwriting it).
 */
export function normaliseState(raw: unknown, source: string): SchedulerState {
  if (!isObject(raw)) throw new TypeError('the top level is not a JSON object');
  const version = raw.version ?? SCHEDULER_STATE_VERSION;
  if (typeof version !== 'number' || version > SCHEDULER_STATE_VERSION) {
    throw new SafetynetError(
      'E_SCHEDULER_STATE_VERSION',
      `${source} has scheduler state version ${String(version)}; this safetynet reads version ${SCHEDULER_STATE_VERSION}`,
      {
        hint: 'upgrade safetynet to the version that wrote this state, or move the file away to start afresh',
      },
    );
  }
  const jobs: Record<string, JobState> = {};
  if (isObject(raw.jobs)) {
    for (const [name, value] of Object.entries(raw.jobs)) {
      if (!isObject(value)) continue;
      const js = value as unknown as JobState;
      jobs[name] = {
        ...js,
        consecutiveFailures: typeof js.consecutiveFailures === 'number' ? js.consecutiveFailures : 0,
      };
    }
  }
  return { version: SCHEDULER_STATE_VERSION, jobs };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keeps the state in memory (tests, or a serve that need not remember). Copies on load and save. */
export class MemoryStateStore implements SchedulerStateStore {
  private state: SchedulerState;
  /** Number of save() calls, for tests. */
  saves = 0;
  constructor(initial: SchedulerState = emptyState()) {
    this.state = structuredClone(initial);
  }
  async load(): Promise<SchedulerState> {
    return structuredClone(this.state);
  }
  async save(state: SchedulerState): Promise<void> {
    this.saves++;
    this.state = structuredClone(state);
  }
  /** The saved state, for assertions. */
  snapshot(): SchedulerState {
    return structuredClone(this.state);
  }
}

export interface JsonFileStateStoreOptions {
  /**
   * Called when the file held something unreadable. The file is moved aside (never deleted) and
   * the scheduler starts from an empty state; serve should log this as a warning.
   */
  onCorrupt?: (info: { file: string; movedTo: string; error: Error }) => void;
  /** Time used to name a moved-aside file. Default Date.now. */
  now?: () => number;
}

/**
 * The state as one JSON file, replaced atomically on every save (temp file, fsync, rename), so a
 * crash leaves the old state or the new one. A corrupt file does not stop the scheduler: losing
 * the state costs at most one extra catch-up run per job, while refusing to start would stop
 * every backup.
 */
export class JsonFileStateStore implements SchedulerStateStore {
  constructor(
    readonly file: string,
    private readonly options: JsonFileStateStoreOptions = {},
  ) {}

  async load(): Promise<SchedulerState> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return emptyState();
      throw new SafetynetError(
        'E_SCHEDULER_STATE_READ',
        `cannot read the scheduler state ${this.file}: ${(err as Error).message}`,
        {
          hint: 'check that the file is readable by the user running safetynet serve',
          cause: err,
        },
      );
    }
    try {
      return normaliseState(JSON.parse(text), this.file);
    } catch (err) {
      if (err instanceof SafetynetError) throw err;
      const movedTo = `${this.file}.corrupt-${new Date((this.options.now ?? Date.now)()).toISOString().replace(/[:.]/g, '-')}`;
      await fsp.rename(this.file, movedTo);
      this.options.onCorrupt?.({ file: this.file, movedTo, error: err as Error });
      return emptyState();
    }
  }

  async save(state: SchedulerState): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(state, null, 2) + '\n');
  }
}
