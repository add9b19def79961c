/**
 * The Backups page's data source, supplied by the backup/scheduler layer (src/server/
 * backups-provider.ts maps the status report and the scheduler onto `BackupsStatus`). The panel
 * only renders what it is given and forwards the two buttons; it never starts a restore (restores
 * are deliberate command-line work, see the disaster-recovery runbook).
 *
 * Everything in here may hold text from the repository or the state file (error messages, check
 * details): the view escapes all of it.
 */

/** The result of a button press, shown to the user on the next page. */
export interface BackupActionResult {
  ok: boolean;
  /** One sentence for a person, e.g. "Backup started; it appears below when done." */
  message: string;
}

export const POINT_KINDS = ['full', 'incremental', 'files'] as const;
export type PointKindName = (typeof POINT_KINDS)[number];

/** Restore points shown per page. */
export const POINTS_PAGE_SIZE = 20;

/** Which restore points to show: newest first, older than `before` (keyset paging). */
export interface BackupsQuery {
  /** A point id: show points older than it. Absent: the newest. */
  before?: string;
  kind?: PointKindName;
}

/** One restore point. Times are ISO 8601 UTC. */
export interface PointView {
  id: string;
  time: string;
  kind: string;
  /** The data the point represents (database size, or total file bytes). */
  sizeBytes: number;
  /** What the point added to the repository. */
  storedBytes: number;
  /** A files point that could not read every file. */
  incomplete?: boolean;
}

/** One finished run of a scheduled job. */
export interface JobRunView {
  startedAt: string;
  outcome: 'success' | 'failed' | 'aborted' | 'interrupted' | string;
  /** Why it ran: schedule, catch-up (missed while down) or manual (a button). */
  reason?: string;
  durationMs?: number;
  summary?: string;
  error?: string;
}

/** A scheduled job: its schedule, next run and last outcome. */
export interface JobView {
  name: string;
  cron: string;
  /** ISO, or null when nothing is planned. */
  nextRun: string | null;
  nextReason: 'schedule' | 'catch-up' | 'manual' | null;
  running: boolean;
  lastRun: JobRunView | null;
  consecutiveFailures: number;
}

/** What a button press asked for, and how far it got. */
export interface RequestView {
  what: 'backup' | 'restore-test';
  actor: string;
  at: string;
  jobs: { name: string; state: 'waiting' | 'running' | 'done'; run?: JobRunView }[];
}

/** What the scheduler is doing right now. */
export interface ActivityView {
  running: { name: string; reason: string; startedAt: string } | null;
  /** Jobs due now, waiting for the running one. */
  queued: string[];
  /** Recent button presses (newest first) with their jobs' progress and results. */
  requests: RequestView[];
}

export interface CheckView {
  name: string;
  ok: boolean;
  detail: string;
  /** Drills time each step. */
  ms?: number;
}

/** One recorded restore test. */
export interface RestoreTestView {
  id: string;
  time: string;
  ok: boolean;
  durationMs: number | null;
  /** The database point that was restored. */
  point: { id: string; time: string; kind: string } | null;
  filesPoint: { id: string; time: string } | null;
  checks: CheckView[];
  /** The first check that failed. */
  failed: string | null;
}

/** One recorded disaster-recovery drill. */
export interface DrillView {
  id: string;
  time: string;
  ok: boolean;
  /** Achieved recovery time and point, against the objectives. */
  rtoMs: number | null;
  rpoMs: number | null;
  objectives: { rtoMs: number | null; rpoMs: number | null };
  rtoPass: boolean;
  rpoPass: boolean;
  steps: CheckView[];
}

/** What the Backups page shows. */
export interface BackupsStatus {
  /** When this was read (ISO UTC); "ages" on the page count from here. */
  generatedAt: string;
  /** The shop's time zone, which the schedule is read in. */
  timezone: string;
  /** The banner: true = healthy, false = needs attention. */
  healthy: boolean;
  /** One line under the banner. */
  summary: string;
  /** Things a person must act on (each makes the status unhealthy). */
  warnings: string[];
  /** RPO exposure: time since the newest restorable database point versus the objective. */
  rpo: { objectiveMs: number; exposureMs: number | null; ok: boolean };
  rtoObjectiveMs: number;
  repository: {
    url: string;
    reachable: boolean;
    storedBytes: number;
    counts: { full: number; incremental: number; files: number; total: number };
  };
  /** The newest point of each kind, with the last run of the job that makes it. */
  last: { kind: PointKindName; job: string; point: PointView | null; lastRun: JobRunView | null }[];
  jobs: JobView[];
  activity: ActivityView;
  /** One page of restore points, newest first. */
  points: {
    items: PointView[];
    /** Points of the shown kind (all pages). */
    total: number;
    query: BackupsQuery;
    /** The `before` of the next (older) page, when there is one. */
    olderCursor: string | null;
  };
  /** Newest first, at most a few; `restoreTestsTotal` counts all recorded. */
  restoreTests: RestoreTestView[];
  restoreTestsTotal: number;
  drills: DrillView[];
  drillsTotal: number;
  /** The rotating read-verify: slices of the current pass re-read intact, of `count`. */
  readVerify?: {
    slicesDone: number;
    count: number;
    coveredSince: string | null;
    last: { time: string; ok: boolean; slice: number; objects: number } | null;
  };
}

export interface BackupsPageProvider {
  status(query?: BackupsQuery): Promise<BackupsStatus>;
  /** Starts (or queues) a backup now; `actor` is the admin user who asked, for the audit trail. */
  backupNow(actor: string): Promise<BackupActionResult>;
  /** Starts (or queues) a restore test now. */
  restoreTestNow(actor: string): Promise<BackupActionResult>;
}

const POINT_ID_RE = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** A problem with the page's query string, shown next to the restore points. */
export interface BackupsQueryError {
  field: 'before' | 'kind' | 'query';
  message: string;
}

/**
 * Reads the page's query string (`before`, `kind`). Unknown or repeated parameters and values that
 * are not what the page's own links produce are errors; the page then shows the newest points
 * with the message (and HTTP 400), never a crash.
 */
export function parseBackupsQuery(raw: unknown): { query: BackupsQuery; errors: BackupsQueryError[] } {
  const query: BackupsQuery = {};
  const errors: BackupsQueryError[] = [];
  const params = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(params)) {
    if (key !== 'before' && key !== 'kind') {
      errors.push({
        field: 'query',
        message: `unknown parameter "${key.slice(0, 40)}" (this page knows before and kind)`,
      });
      continue;
    }
    if (typeof value !== 'string') {
      errors.push({ field: key, message: `"${key}" is given more than once` });
      continue;
    }
    if (value === '') continue;
    if (key === 'before') {
      if (POINT_ID_RE.test(value)) query.before = value;
      else
        errors.push({
          field: 'before',
          message: `"before" must be a restore point id such as 20261126T030000123Z-9f3a1c; the link was damaged, so the newest points are shown`,
        });
    } else if ((POINT_KINDS as readonly string[]).includes(value)) {
      query.kind = value as PointKindName;
    } else {
      errors.push({
        field: 'kind',
        message: `"kind" must be one of ${POINT_KINDS.join(', ')}; all kinds are shown`,
      });
    }
  }
  return { query, errors };
}
