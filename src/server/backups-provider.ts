/**
 * The admin panel's Backups page, fed by the status report and the scheduler: the two buttons
 * queue a run on the scheduler (one job at a time, never overlapping a scheduled run), and the
 * page shows the result when it is done.
 */
import type { BackupDeps } from '../backup/context.js';
import { buildStatus } from '../backup/status.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { BackupsPageProvider, BackupsStatus } from '../web/backups.js';
import { formatDuration } from '../util/time.js';

export function backupsPageProvider(deps: BackupDeps, scheduler: Scheduler): BackupsPageProvider {
  return {
    async status(): Promise<BackupsStatus> {
      const s = await buildStatus(deps);
      const running = scheduler.running();
      const run = (kind: string, at: string | null, ok: boolean, detail?: string) => ({ kind, at, ok, ...(detail ? { detail } : {}) });
      const job = (name: string) => s.jobs.find((j) => j.name === name);
      const lastRuns = ['full', 'incremental', 'files', 'retention', 'restore-test'].map((name) => {
        const j = job(name)?.lastRun;
        return run(name, j?.at ?? null, j ? j.outcome === 'success' : false, j ? `${j.outcome}${j.summary ? `: ${j.summary}` : ''}${j.error ? `: ${j.error}` : ''}` : 'never ran');
      });
      return {
        healthy: s.healthy,
        summary: s.healthy
          ? `Backups are healthy. The newest database point is ${s.rpo.exposureMs === null ? 'missing' : formatDuration(s.rpo.exposureMs) + ' old'} (objective ${formatDuration(s.rpo.objectiveMs)}).`
          : `${s.warnings.length} thing${s.warnings.length === 1 ? '' : 's'} need${s.warnings.length === 1 ? 's' : ''} attention.` +
            (running ? ` Now running: ${running.name}.` : ''),
        warnings: s.warnings,
        rpo: { objectiveMs: s.rpo.objectiveMs, exposureMs: s.rpo.exposureMs },
        lastRuns,
        nextRuns: scheduler
          .nextRuns()
          .filter((n) => n.at)
          .map((n) => ({ kind: n.name, at: n.at! })),
        restorePoints: s.recentPoints.map((p) => ({ id: p.id, time: p.time, kind: p.kind, sizeBytes: p.sizeBytes })),
        restoreTests: s.restoreTest
          ? [run('restore test', String(s.restoreTest.time), Boolean(s.restoreTest.ok), String(s.restoreTest.failed ?? 'all checks passed'))]
          : [],
      };
    },
    async backupNow(actor) {
      scheduler.trigger('incremental');
      scheduler.trigger('files');
      await deps.log.info(`backup requested by ${actor} from the admin panel`, { details: { actor } });
      return { ok: true, message: 'Backup started (database and files); the new restore points appear below when done.' };
    },
    async restoreTestNow(actor) {
      scheduler.trigger('restore-test');
      await deps.log.info(`restore test requested by ${actor} from the admin panel`, { details: { actor } });
      return { ok: true, message: 'Restore test started; its result appears below when done.' };
    },
  };
}
