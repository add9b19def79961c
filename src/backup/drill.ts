/**
 * The disaster-recovery drill: recover everything into a scratch folder as if the machine were
 * lost — using only the repository and the identity (a fresh, empty state folder: no local caches)
 * — and measure what the objectives promise:
 *   achieved RTO = wall time of the whole recovery (catalog, database, the SQLite log store, every
 *   file set, checks);
 *   achieved RPO = age of the newest recoverable database point at the moment the drill starts, or,
 *   for a source with a continuous log that measures it (PostgreSQL's heartbeat row), the live
 *   server's newest heartbeat minus the recovered server's.
 * The database is what RPO is about (orders and payments written since the last point are what a
 * disaster loses); the age of the newest file point is reported beside it, against its own
 * schedule. The report lists each step with its time and PASS/FAIL per objective.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { SafetynetError } from '../errors.js';
import type { BackupDeps } from './context.js';
import { createStorage } from './storage/index.js';
import { Repository, type HistoryRecord } from './repo/repository.js';
import { databaseSource, fileSetSource, logStoreSource } from './sources/index.js';
import type { AnyBackupSource } from './sources/types.js';
import { formatDuration } from '../util/time.js';

export interface DrillStep {
  name: string;
  ms: number;
  ok: boolean;
  detail: string;
}

export interface DrillReport extends HistoryRecord {
  kind: 'drill';
  ok: boolean;
  startedAt: string;
  repository: string;
  steps: DrillStep[];
  /** Achieved recovery time (ms). */
  rtoMs: number;
  /** Achieved recovery point: age of the newest database point at the start (ms), null without one. */
  rpoMs: number | null;
  /** How the source measured RPO (a heartbeat), when it did; null: the newest point's age. */
  rpoBasis: string | null;
  /** Age of the newest file point at the start (ms), null without one. */
  filesAgeMs: number | null;
  objectives: { rtoMs: number; rpoMs: number };
  rtoPass: boolean;
  rpoPass: boolean;
  database: { point: string; time: string; bytes: number } | null;
  /** The SQLite log store's newest point, recovered and checked (null: none, or a PostgreSQL store). */
  logs: { point: string; time: string; bytes: number } | null;
  files: { points: string[]; files: number; bytes: number } | null;
}

export interface DrillOptions {
  /** Where to recover to (default: backup.stateDir/scratch); removed afterwards unless keep. */
  scratchDir?: string;
  keep?: boolean;
  trigger?: string;
}

/** Runs the drill, records it in the repository's history and the log, and returns the report. */
export async function runDrill(deps: BackupDeps, opts: DrillOptions = {}): Promise<DrillReport> {
  const { config, clock } = deps;
  const startedAt = clock.now();
  const t0 = performance.now();
  const steps: DrillStep[] = [];
  const scratch = path.join(
    opts.scratchDir ?? path.join(config.backup.stateDir, 'scratch'),
    `drill-${randomBytes(4).toString('hex')}`,
  );
  // Only the repository and the identity: a fresh Repository with an empty state folder.
  const repo = new Repository({
    storage: createStorage(config.backup),
    recipients: [],
    ...(config.backup.identity ? { identityFile: config.backup.identity } : {}),
    stateDir: path.join(scratch, 'state'),
    clock,
  });
  const drillDeps: BackupDeps = { ...deps, repo };
  let database: DrillReport['database'] = null;
  let logs: DrillReport['logs'] = null;
  let files: DrillReport['files'] = null;
  let rpoMs: number | null = null;
  let filesAgeMs: number | null = null;
  let rpoBasis: string | null = null;
  const step = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
    const s = performance.now();
    try {
      const detail = await fn();
      steps.push({ name, ms: Math.round(performance.now() - s), ok: true, detail });
      return true;
    } catch (err) {
      const detail = err instanceof SafetynetError ? `${err.message} [${err.code}]` : (err as Error).message;
      steps.push({ name, ms: Math.round(performance.now() - s), ok: false, detail });
      return false;
    }
  };
  try {
    await fsp.mkdir(scratch, { recursive: true });
    let points: Awaited<ReturnType<Repository['listPoints']>> = [];
    const reached = await step('read the repository catalog', async () => {
      await repo.requireConfig();
      await repo.identities();
      points = await repo.listPoints();
      return `${points.length} restore points in ${repo.storage.url}`;
    });
    if (reached) {
      const newest = (source: AnyBackupSource) =>
        [...points].reverse().find((p) => p.source === source.pointSource);
      const db = newest(databaseSource(config));
      if (db) rpoMs = Math.max(0, startedAt - Date.parse(db.time));
      await step('restore the database (newest point) and check it', async () => {
        if (!db) throw new Error('the repository holds no database point');
        const r = await databaseSource(config).drillRecover(drillDeps, db, scratch);
        database = { point: db.id, time: db.time, bytes: r.bytes };
        if (r.rpoMs !== undefined) {
          rpoMs = r.rpoMs;
          rpoBasis = r.rpoBasis ?? null;
        }
        return r.detail;
      });
      // The log store (its own points when it is a SQLite file): the audit trail comes back too.
      const logSource = logStoreSource(config);
      const newestLogs = logSource ? newest(logSource) : undefined;
      if (logSource && newestLogs) {
        await step('restore the log store (newest point) and check it', async () => {
          const r = await logSource.drillRecover(drillDeps, newestLogs, scratch);
          logs = { point: newestLogs.id, time: newestLogs.time, bytes: r.bytes };
          return r.detail;
        });
      }
      // File sets are optional: the step runs when the repository holds any files point.
      const newestFiles = newest(fileSetSource);
      if (newestFiles) {
        filesAgeMs = Math.max(0, startedAt - Date.parse(newestFiles.time));
        await step('restore every file set (newest point of each) and check every SHA-256', async () => {
          const r = await fileSetSource.drillRecover(drillDeps, newestFiles, scratch);
          files = { points: r.points ?? [newestFiles.id], files: r.files ?? 0, bytes: r.bytes };
          return r.detail;
        });
      }
    }
  } finally {
    await repo.close().catch(() => {});
    if (!opts.keep) await fsp.rm(scratch, { recursive: true, force: true }).catch(() => {});
  }
  const rtoMs = Math.round(performance.now() - t0);
  const objectives = { rtoMs: config.backup.objectives.rtoMs, rpoMs: config.backup.objectives.rpoMs };
  const recovered = steps.length > 0 && steps.every((s) => s.ok);
  const rtoPass = recovered && rtoMs <= objectives.rtoMs;
  const rpoPass = recovered && rpoMs !== null && rpoMs <= objectives.rpoMs;
  const report: DrillReport = {
    kind: 'drill',
    id: randomBytes(4).toString('hex'),
    time: new Date(startedAt).toISOString(),
    startedAt: new Date(startedAt).toISOString(),
    trigger: opts.trigger ?? 'cli',
    repository: deps.repo.storage.url,
    ok: recovered && rtoPass && rpoPass,
    steps,
    rtoMs,
    rpoMs,
    rpoBasis,
    filesAgeMs,
    objectives,
    rtoPass,
    rpoPass,
    database,
    logs,
    files,
  };
  await deps.repo.writeHistory(report).catch(() => {});
  const line = `drill: RTO ${formatDuration(rtoMs)} (${rtoPass ? 'PASS' : 'FAIL'}, objective ${formatDuration(objectives.rtoMs)}), RPO ${rpoMs === null ? 'n/a' : formatDuration(rpoMs)} (${rpoPass ? 'PASS' : 'FAIL'}, objective ${formatDuration(objectives.rpoMs)})`;
  if (report.ok) await deps.log.info(line, { details: { ...report } });
  else await deps.log.error(line, { details: { ...report } });
  return report;
}

/** The drill report as Markdown, for --out. */
export function drillMarkdown(r: DrillReport): string {
  const pf = (b: boolean) => (b ? '**PASS**' : '**FAIL**');
  const lines = [
    `# Disaster-recovery drill — ${r.startedAt}`,
    '',
    `Repository: \`${r.repository}\`. Recovered into a scratch folder using only the repository and the identity.`,
    '',
    '| objective | target | achieved | result |',
    '|---|---|---|---|',
    `| RTO (time to recover everything) | ${formatDuration(r.objectives.rtoMs)} | ${formatDuration(r.rtoMs)} | ${pf(r.rtoPass)} |`,
    `| RPO (${r.rpoBasis ? 'heartbeat: live minus recovered' : 'age of the newest database point'}) | ${formatDuration(r.objectives.rpoMs)} | ${r.rpoMs === null ? 'no database point' : formatDuration(r.rpoMs)} | ${pf(r.rpoPass)} |`,
    '',
    ...(r.rpoBasis ? [`RPO measured with the ${r.rpoBasis}.`, ''] : []),
    r.filesAgeMs !== null
      ? `Newest file point was ${formatDuration(r.filesAgeMs)} old (file sets follow their own schedule).`
      : 'No file point.',
    '',
    '## Steps',
    '',
    '| # | step | time | result | detail |',
    '|---|---|---|---|---|',
    ...r.steps.map(
      (s, i) =>
        `| ${i + 1} | ${s.name} | ${formatDuration(s.ms)} | ${s.ok ? 'ok' : 'FAILED'} | ${s.detail.replace(/\|/g, '\\|')} |`,
    ),
    '',
    `Overall: ${r.ok ? '**PASS**' : '**FAIL**'}.`,
    '',
  ];
  return lines.join('\n');
}
