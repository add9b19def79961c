/**
 * `safetynet serve`, `status`, `restore-test`, `drill`: running the safety net and checking that
 * it holds.
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { buildStatus, type StatusReport } from '../backup/status.js';
import { runRestoreTest } from '../backup/restore-test.js';
import { drillMarkdown, runDrill } from '../backup/drill.js';
import type { startServe } from '../server/serve.js';
import { formatDuration, parseDurationMs } from '../util/time.js';
import { formatBytes } from '../util/format.js';
import { ExitCode, UsageError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the scheduler (backups, retention, restore tests) and the admin panel until stopped')
    .option('--no-panel', 'do not start the admin panel')
    .option(
      '--catch-up-delay <duration>',
      'wait this long after start before catching up missed runs (default 10s)',
      '10s',
    )
    .action(
      action(async (ctx, opts: { panel: boolean; catchUpDelay: string }) => {
        // Signals are caught from the start: a SIGTERM while serve is still starting stops it
        // cleanly as soon as it is up, instead of killing it halfway (the default action).
        let early: NodeJS.Signals | undefined;
        let onSignal: (signal: NodeJS.Signals) => void = (signal) => (early ??= signal);
        const handler = (signal: NodeJS.Signals) => onSignal(signal);
        process.on('SIGTERM', handler);
        process.on('SIGINT', handler);
        ctx.printConfigWarnings();
        const delay = parseDurationMs(opts.catchUpDelay);
        if (delay === undefined) {
          process.off('SIGTERM', handler);
          process.off('SIGINT', handler);
          throw new UsageError(
            'E_BAD_DURATION',
            `--catch-up-delay: "${opts.catchUpDelay}" is not a duration`,
            { hint: 'use e.g. 0s, 10s, 1m' },
          );
        }
        let s: Awaited<ReturnType<typeof startServe>>;
        try {
          // Loaded here: the panel (Fastify) costs every other command ~40 ms of start-up otherwise.
          const serve = await import('../server/serve.js');
          s = await serve.startServe(ctx.config, { noPanel: !opts.panel, catchUpDelayMs: delay });
        } catch (err) {
          process.off('SIGTERM', handler);
          process.off('SIGINT', handler);
          throw err;
        }
        ctx.note(
          `safetynet serve: scheduler running (time zone ${ctx.config.backup.timezone}), repository ${s.deps.repo.storage.url}`,
        );
        if (s.url) ctx.note(`admin panel: ${s.url}/`);
        for (const n of s.scheduler.nextRuns())
          if (n.at)
            ctx.note(
              `  next ${n.name.padEnd(14)} ${n.at}${n.reason === 'catch-up' ? ' (catching up a missed run)' : ''}`,
            );
        await new Promise<void>((resolve) => {
          const finish = (why: string) => {
            ctx.note(`safetynet serve: ${why}, stopping (a running job is stopped cleanly)`);
            // A second signal now gets the default action (an impatient operator can still force it).
            process.off('SIGTERM', handler);
            process.off('SIGINT', handler);
            void s.stop({ abortRunning: true }).then(resolve, (err) => {
              ctx.note(`safetynet serve: error while stopping: ${(err as Error).message}`);
              resolve();
            });
          };
          onSignal = (signal) => finish(`${signal} received`);
          if (early) finish(`${early} received while starting`);
          // The scheduler stops on its own when the instance lock is lost: exit non-zero so a
          // supervisor restarts serve (which then waits for the lock like any second instance).
          void s.scheduler.whenStopped().then(({ lockLost }) => {
            if (!lockLost) return;
            ctx.exitCode = ExitCode.failure;
            finish('lost the repository instance lock');
          });
        });
      }),
    );

  program
    .command('status')
    .description(
      'last backups, RPO exposure, next runs, restore tests, warnings; exit 1 when any warning stands',
    )
    .option('--json', 'print the report as JSON')
    .action(
      action(async (ctx) => {
        ctx.printConfigWarnings();
        const deps = await backupDeps(ctx);
        const r = await buildStatus(deps);
        if (ctx.json) ctx.printJson(r);
        else ctx.print(describeStatus(r));
        if (!r.healthy) ctx.exitCode = ExitCode.failure;
      }),
    );

  program
    .command('restore-test')
    .description('restore the newest point into a scratch folder, check it thoroughly, record the result')
    .option('--all-files', 'restore and check every file, not a sample')
    .option('--sample <n>', 'files to sample (default 20)', (v) => Number(v))
    .option('--scratch <dir>', 'scratch folder (default: backup.stateDir/scratch)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { allFiles?: boolean; sample?: number; scratch?: string }) => {
        const deps = await backupDeps(ctx);
        const r = await runRestoreTest(deps, {
          allFiles: Boolean(opts.allFiles),
          ...(opts.sample !== undefined && Number.isFinite(opts.sample) ? { sample: opts.sample } : {}),
          ...(opts.scratch ? { scratchDir: opts.scratch } : {}),
          trigger: 'cli',
        });
        if (ctx.json) ctx.printJson(r);
        else {
          for (const c of r.checks) ctx.print(`${c.ok ? 'ok    ' : 'FAILED'} ${c.name}: ${c.detail}`);
          ctx.print(
            r.ok
              ? `restore test PASSED for point ${r.point?.id} in ${formatDuration(r.durationMs)} (recorded in the repository)`
              : `restore test FAILED: ${r.failed} (recorded in the repository)`,
          );
        }
        if (!r.ok) ctx.exitCode = ExitCode.failure;
      }),
    );

  program
    .command('drill')
    .description(
      'recover everything into a scratch folder as after a disaster; measure RTO and RPO against the objectives',
    )
    .option('--out <file>', 'write the report as Markdown to this file')
    .option('--scratch <dir>', 'scratch folder (default: backup.stateDir/scratch)')
    .option('--keep', 'keep the recovered copy (printed) instead of deleting it')
    .option('--json', 'print the report as JSON')
    .action(
      action(async (ctx, opts: { out?: string; scratch?: string; keep?: boolean }) => {
        const deps = await backupDeps(ctx);
        const r = await runDrill(deps, {
          ...(opts.scratch ? { scratchDir: opts.scratch } : {}),
          keep: Boolean(opts.keep),
          trigger: 'cli',
        });
        if (opts.out) writeFileSync(opts.out, drillMarkdown(r));
        if (ctx.json) ctx.printJson(r);
        else ctx.print(drillMarkdown(r));
        if (!r.ok) ctx.exitCode = ExitCode.failure;
      }),
    );
}

/** The human form of the status report. */
export function describeStatus(r: StatusReport): string {
  const lines: string[] = [];
  lines.push(
    r.healthy ? 'HEALTHY' : `ATTENTION: ${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'}`,
  );
  for (const w of r.warnings) lines.push(`  ! ${w}`);
  lines.push('');
  const p = (label: string, x: StatusReport['last']['full']) =>
    lines.push(
      `${label.padEnd(18)} ${x ? `${x.time}  ${x.id}  ${formatBytes(x.sizeBytes)} (${formatBytes(x.storedBytes)} stored)${x.incomplete ? '  INCOMPLETE' : ''}` : 'none'}`,
    );
  p('last full', r.last.full);
  p('last incremental', r.last.incremental);
  p('last files', r.last.files);
  lines.push(
    `${'RPO exposure'.padEnd(18)} ${r.rpo.exposureMs === null ? 'no database point' : formatDuration(r.rpo.exposureMs)} (objective ${formatDuration(r.rpo.objectiveMs)}: ${r.rpo.ok ? 'ok' : 'NOT MET'})`,
  );
  lines.push(
    `${'repository'.padEnd(18)} ${r.repository.url}: ${r.repository.points.total} points (${r.repository.points.full} full, ${r.repository.points.incremental} incremental, ${r.repository.points.files} files), ${formatBytes(r.repository.storedBytes)}`,
  );
  const t = r.restoreTest;
  lines.push(
    `${'last restore test'.padEnd(18)} ${t ? `${String(t.time)} ${t.ok ? 'PASSED' : `FAILED (${String(t.failed)})`}` : 'never'}`,
  );
  const v = r.readVerify;
  lines.push(
    `${'read-verify'.padEnd(18)} ${
      v.last
        ? `${v.slicesDone}/${v.count} slices re-read intact${v.slicesDone === v.count ? ` (every object since ${v.coveredSince})` : ''}; last ${String(v.last.time)} ${v.last.ok ? 'ok' : 'DAMAGE FOUND'}`
        : 'never'
    }`,
  );
  const d = r.drill;
  lines.push(
    `${'last drill'.padEnd(18)} ${d ? `${String(d.time)} RTO ${formatDuration(Number(d.rtoMs))} ${d.rtoPass ? 'PASS' : 'FAIL'}, RPO ${d.rpoMs === null ? 'n/a' : formatDuration(Number(d.rpoMs))} ${d.rpoPass ? 'PASS' : 'FAIL'}` : 'never'}`,
  );
  lines.push(
    `${'log store'.padEnd(18)} ${r.logs.store}${r.logs.spoolBytes > 0 ? `; ${r.logs.spoolBytes} bytes waiting in the spool` : '; spool empty'}`,
  );
  lines.push(`${'log store backup'.padEnd(18)} ${r.logs.backup}`);
  if (r.stream) {
    const st = r.stream;
    lines.push(
      `${'WAL stream'.padEnd(18)} ${st.running ? 'running' : 'NOT RUNNING'}, lag ${st.lagSeconds ?? '?'} s / ${st.lagBytes ?? '?'} bytes, slot ${st.slot?.name ?? '-'} (${st.slot?.walStatus ?? 'missing'}), newest ${st.newestObject ? `${st.newestObject.key} at ${st.newestObject.time ?? '?'}` : 'none'}${st.gaps.length ? `, ${st.gaps.length} gap(s)` : ', no gaps'}`,
    );
  }
  lines.push('');
  lines.push('jobs               next run                   last run');
  for (const j of r.jobs) {
    const last = j.lastRun
      ? `${j.lastRun.at} ${j.lastRun.outcome}${j.lastRun.error ? `: ${j.lastRun.error}` : ''}`
      : 'never (serve not run yet)';
    lines.push(`  ${j.name.padEnd(16)} ${(j.nextRun ?? '-').padEnd(26)} ${last}`);
  }
  return lines.join('\n');
}
