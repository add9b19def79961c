/**
 * The admin panel's Backups page, fed by the status report, the repository (restore points and the
 * restore-test/drill history) and the scheduler (what runs now, next runs, last outcomes).
 *
 * The two buttons do not run anything themselves: they queue a run on the scheduler (one job at a
 * time, never overlapping a scheduled run) and remember the request, so the page can show each
 * requested job waiting, running, and then its outcome. The requests live in memory only: after a
 * restart the job table still shows every job's last outcome.
 */
import type { BackupDeps } from '../backup/context.js';
import type { HistoryRecord } from '../backup/repo/repository.js';
import type { CatalogEntry } from '../backup/repo/types.js';
import { buildStatus, type JobStatus, type PointSummary } from '../backup/status.js';
import { logStoreSource } from '../backup/sources/index.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { JobRunRecord } from '../schedule/state.js';
import { formatDuration } from '../util/time.js';
import {
  POINTS_PAGE_SIZE,
  type BackupActionResult,
  type BackupsPageProvider,
  type BackupsQuery,
  type BackupsStatus,
  type CheckView,
  type DrillView,
  type JobRunView,
  type PointKindName,
  type PointView,
  type RequestView,
  type RestoreTestView,
} from '../web/backups.js';

/** Restore tests and drills listed on the page (the newest). */
const HISTORY_SHOWN = 10;
/** Button presses remembered for the activity box. */
const REQUESTS_KEPT = 5;
/** A press and its results stay in the activity box this long (the job table keeps outcomes after). */
const REQUEST_MAX_AGE_MS = 3_600_000;

/** Which job makes each kind of point ("auto" incrementals become a full when none exists today). */
const JOB_OF_KIND: Record<PointKindName, string> = {
  full: 'full',
  incremental: 'incremental',
  files: 'files',
};
const BACKUP_JOBS = ['incremental', 'files'];
const RESTORE_TEST_JOBS = ['restore-test'];

interface Request {
  what: 'backup' | 'restore-test';
  actor: string;
  at: number;
  jobs: string[];
}

export function backupsPageProvider(deps: BackupDeps, scheduler: Scheduler): BackupsPageProvider {
  const requests: Request[] = [];

  /** Queues `jobs` on the scheduler and remembers the request; never throws. */
  function request(
    what: Request['what'],
    actor: string,
    jobs: string[],
  ): { ok: boolean; busy: string | null; error?: string } {
    const busy = scheduler.running()?.name ?? null;
    const at = deps.clock.now();
    try {
      for (const job of jobs) scheduler.trigger(job);
    } catch (err) {
      return { ok: false, busy, error: err instanceof Error ? err.message : String(err) };
    }
    requests.unshift({ what, actor, at, jobs });
    requests.splice(REQUESTS_KEPT);
    return { ok: true, busy };
  }

  return {
    async status(query: BackupsQuery = {}): Promise<BackupsStatus> {
      const s = await buildStatus(deps);
      const now = deps.clock.now();
      // The report keeps only the newest 200 points and the newest record of each history kind;
      // the page pages through all points and lists the history, so it reads both again (the
      // catalog is cached locally; a read error was already turned into a warning by the report).
      const [points, history] = s.repository.reachable
        ? await Promise.all([
            deps.repo.listPoints().catch(() => [] as CatalogEntry[]),
            deps.repo.listHistory().catch(() => [] as HistoryRecord[]),
          ])
        : [[], []];

      const lastRuns = new Map(scheduler.lastRuns().map((j) => [j.name, j]));
      const running = scheduler.running();
      const jobStatus = new Map<string, JobStatus>(s.jobs.map((j) => [j.name, j]));
      const jobs = scheduler.nextRuns().map((n) => {
        const last = lastRuns.get(n.name);
        return {
          name: n.name,
          cron: n.cron,
          nextRun: n.at,
          nextReason: n.reason,
          running: n.running,
          lastRun: last?.lastRun ? runView(last.lastRun) : null,
          consecutiveFailures: last?.consecutiveFailures ?? jobStatus.get(n.name)?.consecutiveFailures ?? 0,
        };
      });
      const queued = scheduler
        .nextRuns()
        .filter((n) => !n.running && n.at !== null && Date.parse(n.at) <= now)
        .map((n) => n.name);

      const fresh = requests.filter((r) => now - r.at < REQUEST_MAX_AGE_MS);
      const requestViews: RequestView[] = fresh.map((r) => ({
        what: r.what,
        actor: r.actor,
        at: iso(r.at),
        jobs: r.jobs.map((name) => {
          const last = lastRuns.get(name)?.lastRun;
          // The first run that started after the press serves it (a run already going did not).
          if (last && Date.parse(last.startedAt) >= r.at)
            return { name, state: 'done' as const, run: runView(last) };
          if (running?.name === name && Date.parse(running.startedAt) >= r.at)
            return { name, state: 'running' as const };
          return { name, state: 'waiting' as const };
        }),
      }));

      const kindPoints = [...points]
        .filter((p) => !query.kind || p.kind === query.kind)
        .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      const start = query.before ? kindPoints.findIndex((p) => p.id < query.before!) : 0;
      const page = start < 0 ? [] : kindPoints.slice(start, start + POINTS_PAGE_SIZE);
      const hasOlder = start >= 0 && start + POINTS_PAGE_SIZE < kindPoints.length;

      const tests = history.filter((h) => h.kind === 'restore-test').reverse();
      const drills = history.filter((h) => h.kind === 'drill').reverse();
      const newestTest = tests[0];

      const summary = s.healthy
        ? `Every check passes. The newest database point is ${s.rpo.exposureMs === null ? 'missing' : formatDuration(s.rpo.exposureMs) + ' old'} (objective ${formatDuration(s.rpo.objectiveMs)})` +
          (newestTest
            ? `; the last restore test passed ${formatDuration(Math.max(0, now - Date.parse(newestTest.time)))} ago.`
            : '.')
        : `${s.warnings.length} thing${s.warnings.length === 1 ? ' needs' : 's need'} attention:`;
      // PostgreSQL: the continuous WAL stream, in one sentence beside the summary.
      const st = s.stream;
      const walLine = st
        ? ` WAL stream ${st.running ? 'running' : 'NOT running'}: ${st.lagSeconds ?? '?'} s / ${st.lagBytes ?? '?'} bytes behind, slot ${st.slot?.name ?? '-'} ${st.slot?.walStatus ?? 'missing'}, newest WAL object ${st.newestObject?.key ?? 'none'}, ${st.gaps.length ? `${st.gaps.length} gap(s)` : 'no gaps'}.`
        : '';

      return {
        generatedAt: iso(now),
        timezone: deps.config.backup.timezone,
        healthy: s.healthy,
        summary: summary + walLine,
        warnings: s.warnings,
        rpo: { objectiveMs: s.rpo.objectiveMs, exposureMs: s.rpo.exposureMs, ok: s.rpo.ok },
        rtoObjectiveMs: s.rto.objectiveMs,
        repository: {
          url: s.repository.url,
          reachable: s.repository.reachable,
          storedBytes: s.repository.storedBytes,
          counts: {
            full: s.repository.points.full ?? 0,
            incremental: s.repository.points.incremental ?? 0,
            files: s.repository.points.files ?? 0,
            total: s.repository.points.total ?? 0,
          },
        },
        last: (['full', 'incremental', 'files'] as const).map((kind) => {
          const last = lastRuns.get(JOB_OF_KIND[kind])?.lastRun;
          return {
            kind,
            job: JOB_OF_KIND[kind],
            point: s.last[kind] ? pointView(s.last[kind]) : null,
            lastRun: last ? runView(last) : null,
          };
        }),
        jobs,
        activity: { running, queued, requests: requestViews },
        points: {
          items: page.map(pointView),
          total: kindPoints.length,
          query,
          olderCursor: hasOlder ? page[page.length - 1]!.id : null,
        },
        restoreTests: tests.slice(0, HISTORY_SHOWN).map(restoreTestView),
        restoreTestsTotal: tests.length,
        drills: drills.slice(0, HISTORY_SHOWN).map(drillView),
        drillsTotal: drills.length,
        readVerify: {
          slicesDone: s.readVerify.slicesDone,
          count: s.readVerify.count,
          coveredSince: s.readVerify.coveredSince,
          last: s.readVerify.last
            ? {
                time: s.readVerify.last.time,
                ok: s.readVerify.last.ok,
                slice: s.readVerify.last.slice.index + 1,
                objects: s.readVerify.last.objects,
              }
            : null,
        },
      };
    },

    async backupNow(actor): Promise<BackupActionResult> {
      const r = request('backup', actor, BACKUP_JOBS);
      if (!r.ok) return { ok: false, message: `No backup was started: ${r.error}` };
      await deps.log.info(`backup requested by ${actor} from the admin panel`, {
        details: { actor, jobs: BACKUP_JOBS },
      });
      return {
        ok: true,
        message:
          `Backup requested: a database point, ${logStoreSource(deps.config) ? 'a log-store point ' : ''}and a files point${r.busy ? `, after the ${r.busy} run that is going now` : ''}. ` +
          'Their progress and results show below; this page reloads itself until they are done.',
      };
    },

    async restoreTestNow(actor): Promise<BackupActionResult> {
      const r = request('restore-test', actor, RESTORE_TEST_JOBS);
      if (!r.ok) return { ok: false, message: `No restore test was started: ${r.error}` };
      await deps.log.info(`restore test requested by ${actor} from the admin panel`, { details: { actor } });
      return {
        ok: true,
        message:
          `Restore test requested${r.busy ? `; it starts after the ${r.busy} run that is going now` : ''}. ` +
          'Its result shows below; this page reloads itself until it is done.',
      };
    },
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function pointView(p: CatalogEntry | PointSummary): PointView {
  const size = 'logicalBytes' in p ? p.logicalBytes : p.sizeBytes;
  return {
    id: p.id,
    time: p.time,
    kind: p.kind,
    sizeBytes: size,
    storedBytes: p.storedBytes,
    ...(p.incomplete ? { incomplete: true } : {}),
  };
}

function runView(r: JobRunRecord): JobRunView {
  return {
    startedAt: r.startedAt,
    outcome: r.outcome,
    reason: r.reason,
    ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
    ...(r.summary ? { summary: r.summary } : {}),
    ...(r.error ? { error: r.error.message } : {}),
  };
}

// History records are plaintext JSON in the repository, possibly written by another version: read
// every field defensively rather than trusting the shape.
const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

function checks(v: unknown): CheckView[] {
  if (!Array.isArray(v)) return [];
  return v.map((c) => {
    const o = obj(c) ?? {};
    const ms = num(o.ms);
    return { name: str(o.name), ok: o.ok === true, detail: str(o.detail), ...(ms !== null ? { ms } : {}) };
  });
}

function restoreTestView(r: HistoryRecord): RestoreTestView {
  const point = obj(r.point);
  const filesPoint = obj(r.filesPoint);
  return {
    id: str(r.id),
    time: str(r.time),
    ok: r.ok === true,
    durationMs: num(r.durationMs),
    point: point ? { id: str(point.id), time: str(point.time), kind: str(point.kind) } : null,
    filesPoint: filesPoint ? { id: str(filesPoint.id), time: str(filesPoint.time) } : null,
    checks: checks(r.checks),
    failed: typeof r.failed === 'string' ? r.failed : null,
  };
}

function drillView(r: HistoryRecord): DrillView {
  const objectives = obj(r.objectives) ?? {};
  return {
    id: str(r.id),
    time: str(r.time),
    ok: r.ok === true,
    rtoMs: num(r.rtoMs),
    rpoMs: num(r.rpoMs),
    objectives: { rtoMs: num(objectives.rtoMs), rpoMs: num(objectives.rpoMs) },
    rtoPass: r.rtoPass === true,
    rpoPass: r.rpoPass === true,
    steps: checks(r.steps),
  };
}
