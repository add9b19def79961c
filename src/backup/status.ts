/**
 * `safetynet status`: what a person (or a monitor) needs to know about the safety net, read from
 * the repository (points, restore-test and drill history), the scheduler's state file (job
 * outcomes) and the config (next runs). Warnings are things a person must act on; any warning
 * makes the status unhealthy (exit 1).
 */
import { readVerifyCoverage, type ReadVerifyCoverage } from './read-verify.js';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from './context.js';
import type { CatalogEntry } from './repo/types.js';
import type { HistoryRecord } from './repo/repository.js';
import { parseSchedule } from '../schedule/cron.js';
import { JsonFileStateStore, type SchedulerState } from '../schedule/state.js';
import { formatDuration } from '../util/time.js';
import { SafetynetError } from '../errors.js';
import { Spool } from '../log/spool.js';
import { describeStore } from '../log/writer-core.js';
import { databaseSource, logStoreSource } from './sources/index.js';
import type { StreamStatus } from './sources/types.js';
import { clockBehindMs } from './repo/point-time.js';

/** A clock this far behind the newest point is a warning (smaller gaps are ordinary skew between hosts). */
const CLOCK_BEHIND_WARN_MS = 60_000;

export interface PointSummary {
  id: string;
  time: string;
  kind: string;
  sizeBytes: number;
  storedBytes: number;
  incomplete?: boolean;
}

export interface JobStatus {
  name: string;
  cron: string;
  nextRun: string | null;
  lastRun: { at: string; outcome: string; durationMs?: number; summary?: string; error?: string } | null;
  consecutiveFailures: number;
}

export interface StatusReport {
  generatedAt: string;
  healthy: boolean;
  warnings: string[];
  repository: { url: string; reachable: boolean; storedBytes: number; points: Record<string, number> };
  last: { full: PointSummary | null; incremental: PointSummary | null; files: PointSummary | null };
  rpo: { objectiveMs: number; exposureMs: number | null; ok: boolean };
  rto: { objectiveMs: number };
  jobs: JobStatus[];
  restoreTest: HistoryRecord | null;
  drill: HistoryRecord | null;
  /** The continuous log stream (PostgreSQL WAL), for sources that keep one. */
  stream: StreamStatus | null;
  /** The rotating read-verify: how far the current pass got (see read-verify.ts). */
  readVerify: ReadVerifyCoverage;
  /** Newest first, for the admin panel. */
  recentPoints: PointSummary[];
  /** The log store and the entries waiting in the local spool (the store was unreachable). */
  logs: {
    store: string;
    spoolBytes: number;
    /** How the log store is backed up: its own "logs" points (SQLite) or the cluster holding it (PostgreSQL). */
    backup: string;
    newestPoint: PointSummary | null;
  };
}

/** Where `serve` keeps its scheduler state (status reads it; never needed to restore). */
export function schedulerStatePath(stateDir: string): string {
  return path.join(stateDir, 'scheduler-state.json');
}

/** The jobs `serve` runs, by name, with their config field. */
export const JOB_SCHEDULES = [
  ['full', 'full'],
  ['incremental', 'incremental'],
  ['files', 'files'],
  ['retention', 'retention'],
  ['log-retention', 'logRetention'],
  ['restore-test', 'restoreTest'],
  ['read-verify', 'readVerify'],
] as const;

/** Builds the status report. Never throws for an unreachable repository: that is a warning. */
export async function buildStatus(deps: BackupDeps): Promise<StatusReport> {
  const { config, repo, clock } = deps;
  const now = clock.now();
  const warnings: string[] = [];
  let points: CatalogEntry[] = [];
  let history: HistoryRecord[] = [];
  let reachable = true;
  try {
    if (!(await repo.readConfig())) {
      warnings.push(
        `the repository ${repo.storage.url} holds no backup yet: run \`safetynet backup all\` or start \`safetynet serve\``,
      );
    } else {
      points = await repo.listPoints();
      history = await repo.listHistory();
    }
  } catch (err) {
    reachable = false;
    warnings.push(
      `the repository ${repo.storage.url} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const summary = (p: CatalogEntry | undefined): PointSummary | null =>
    p
      ? {
          id: p.id,
          time: p.time,
          kind: p.kind,
          sizeBytes: p.logicalBytes,
          storedBytes: p.storedBytes,
          ...(p.incomplete ? { incomplete: true } : {}),
        }
      : null;
  // full/incremental are the shop database's ("db"); the log store's own points are reported under logs.
  const newest = (kind: string) =>
    [...points].reverse().find((p) => p.kind === kind && (kind === 'files' || p.source === 'db'));
  const newestLogs = [...points].reverse().find((p) => p.source === 'logs');
  const newestDb = [...points].reverse().find((p) => p.source === 'db');
  const health = await databaseSource(config)
    .health(deps, points)
    .catch((err: unknown) => ({
      warnings: [`the shop database could not be checked: ${(err as Error).message}`],
      stream: undefined,
    }));
  // With a running continuous log (WAL) the exposure is how far the stored log trails the server.
  const stream = health.stream;
  const exposureMs =
    newestDb && stream?.running && stream.lagSeconds !== null
      ? stream.lagSeconds * 1000
      : newestDb
        ? Math.max(0, now - Date.parse(newestDb.time))
        : null;
  const rpoObjective = config.backup.objectives.rpoMs;
  const rpoOk = exposureMs !== null && exposureMs <= rpoObjective;
  if (reachable && exposureMs === null && points.length > 0)
    warnings.push('the repository holds no database backup');
  const behind = clockBehindMs(points, now);
  if (behind > CLOCK_BEHIND_WARN_MS) {
    warnings.push(
      `this machine's clock (${new Date(now).toISOString()}) is ${formatDuration(behind)} behind the newest restore point: was it set back? New points are stamped after the newest one so they stay in order, and the ages shown here read short; check the time source (NTP)`,
    );
  }
  if (exposureMs !== null && !rpoOk) {
    warnings.push(
      `the newest database point is ${formatDuration(exposureMs)} old, more than the RPO objective of ${formatDuration(rpoObjective)}`,
    );
  }

  // Scheduled jobs: next runs from the config, outcomes from serve's state file.
  let state: SchedulerState | undefined;
  const stateFile = schedulerStatePath(config.backup.stateDir);
  if (existsSync(stateFile)) {
    try {
      state = await new JsonFileStateStore(stateFile).load();
    } catch {
      warnings.push(`the scheduler state file ${stateFile} cannot be read`);
    }
  }
  const jobs: JobStatus[] = JOB_SCHEDULES.map(([name, field]) => {
    const cron = config.backup.schedule[field];
    const schedule = parseSchedule(cron, config.backup.timezone, `backup.schedule.${field}`);
    const next = schedule.next(now);
    const js = state?.jobs[name];
    const last = js?.lastRun;
    return {
      name,
      cron,
      nextRun: next === null ? null : new Date(next).toISOString(),
      lastRun: last
        ? {
            at: last.startedAt,
            outcome: last.outcome,
            ...(last.durationMs !== undefined ? { durationMs: last.durationMs } : {}),
            ...(last.summary ? { summary: last.summary } : {}),
            ...(last.error ? { error: last.error.message } : {}),
          }
        : null,
      consecutiveFailures: js?.consecutiveFailures ?? 0,
    };
  });
  for (const j of jobs) {
    if (j.consecutiveFailures > 0) {
      warnings.push(
        `the ${j.name} job failed ${j.consecutiveFailures === 1 ? 'at its last run' : `${j.consecutiveFailures} times in a row`}: ${j.lastRun?.error ?? 'see the backup log'}`,
      );
    }
  }

  // No backup for longer than the schedule allows: twice the longest gap between two slots.
  if (reachable && newestDb) {
    const allowed =
      2 *
      longestGapMs(
        // Sources without incremental points (PostgreSQL: continuous WAL) take only the full ones.
        databaseSource(config).capabilities.incrementalPoints
          ? [config.backup.schedule.full, config.backup.schedule.incremental]
          : [config.backup.schedule.full],
        config.backup.timezone,
        now,
      );
    if (now - Date.parse(newestDb.time) > allowed) {
      warnings.push(
        `no database backup for ${formatDuration(now - Date.parse(newestDb.time))}, longer than the schedule allows (${formatDuration(allowed)}): is \`safetynet serve\` running?`,
      );
    }
  }
  const newestFiles = newest('files');
  if (newestFiles?.incomplete)
    warnings.push(
      `the newest file backup ${newestFiles.id} is incomplete: some files could not be read (see the backup log)`,
    );

  // Restore tests and drills.
  const restoreTest = [...history].reverse().find((h) => h.kind === 'restore-test') ?? null;
  const readVerify = readVerifyCoverage(history, config.backup.readVerifySlices);
  if (readVerify.failedSlices.length)
    warnings.push(
      `the read-verify found damaged objects (slice ${readVerify.failedSlices.map((i) => i + 1).join(', ')} of ${readVerify.count}): run \`safetynet verify --read-data\``,
    );
  const drill = [...history].reverse().find((h) => h.kind === 'drill') ?? null;
  if (restoreTest && !restoreTest.ok)
    warnings.push(
      `the last restore test (${restoreTest.time}) FAILED: ${String(restoreTest.failed ?? 'see its record')}`,
    );
  if (
    reachable &&
    points.length > 0 &&
    (!restoreTest || now - Date.parse(restoreTest.time) > 35 * 86_400_000)
  ) {
    warnings.push(
      restoreTest
        ? `the last restore test is older than 35 days (${restoreTest.time})`
        : 'no restore test has been run yet: run `safetynet restore-test`',
    );
  }
  if (drill && !drill.ok) warnings.push(`the last drill (${drill.time}) did not meet the objectives`);

  // Key and placement.
  if (!config.backup.identity) {
    warnings.push(
      'backup.identity is not set: restore tests are impossible on this machine (keep a copy of the identity safe elsewhere)',
    );
  } else if (!existsSync(config.backup.identity)) {
    warnings.push(
      `the identity file ${config.backup.identity} is missing: restore tests are impossible; without a copy elsewhere no backup can be restored`,
    );
  }
  if (config.backup.recipients.length === 0)
    warnings.push('backup.recipients is empty: nothing can be backed up (run `safetynet keygen`)');

  // Log entries waiting in this host's spool: the log store was (or is) unreachable.
  const spoolBytes = Spool.pendingBytes(config.logs.spool);
  if (spoolBytes > 0) {
    warnings.push(
      `${spoolBytes} bytes of log entries wait in the spool ${config.logs.spool}: the log store ${describeStore(config.logs.store)} could not be written; they are replayed in order once a logger reaches it`,
    );
  }

  warnings.push(...health.warnings);

  const counts: Record<string, number> = { full: 0, incremental: 0, files: 0, total: points.length };
  for (const p of points) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  return {
    generatedAt: new Date(now).toISOString(),
    healthy: warnings.length === 0,
    warnings,
    repository: {
      url: repo.storage.url,
      reachable,
      storedBytes: points.reduce((n, p) => n + p.storedBytes, 0),
      points: counts,
    },
    last: {
      full: summary(newest('full')),
      incremental: summary(newest('incremental')),
      files: summary(newestFiles),
    },
    rpo: { objectiveMs: rpoObjective, exposureMs, ok: rpoOk },
    rto: { objectiveMs: config.backup.objectives.rtoMs },
    jobs,
    restoreTest,
    readVerify,
    drill,
    stream: health.stream ?? null,
    recentPoints: [...points]
      .reverse()
      .slice(0, 200)
      .map((p) => summary(p)!),
    logs: {
      store: describeStore(config.logs.store),
      spoolBytes,
      backup: logStoreCoverage(config, newestLogs),
      newestPoint: summary(newestLogs),
    },
  };
}

/** The longest interval between consecutive slots of the given schedules over the next 8 days. */
function longestGapMs(crons: string[], timezone: string, from: number): number {
  const slots: number[] = [];
  for (const c of crons) {
    try {
      const s = parseSchedule(c, timezone);
      let t = from;
      for (let i = 0; i < 2000; i++) {
        const n = s.next(t);
        if (n === null || n > from + 8 * 86_400_000) break;
        slots.push(n);
        t = n;
      }
    } catch (err) {
      if (!(err instanceof SafetynetError)) throw err;
    }
  }
  slots.sort((a, b) => a - b);
  let gap = 60_000;
  for (let i = 1; i < slots.length; i++) gap = Math.max(gap, slots[i]! - slots[i - 1]!);
  return gap;
}

/** One line on how the log store is backed up (docs/disaster-recovery.md, "The log store"). */
function logStoreCoverage(config: BackupDeps['config'], newest: CatalogEntry | undefined): string {
  if (!logStoreSource(config)) {
    return "a PostgreSQL database: covered by that cluster's backups (the shop cluster's base backups and WAL when it lives there; otherwise back that cluster up as the database source of its own config)";
  }
  return newest
    ? `own points (source "logs"), newest ${newest.id} at ${newest.time}`
    : 'own points (source "logs"): none yet (`safetynet backup all` or `backup logs`)';
}
