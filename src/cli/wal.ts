/**
 * `safetynet wal stream` (the continuous WAL stream in the foreground, as `serve` runs it) and
 * `safetynet doctor` (does the shop's PostgreSQL allow base backups and continuous WAL?).
 */
import type { Command } from 'commander';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { databaseSource } from '../backup/sources/index.js';
import { serverChecks } from '../backup/sources/postgres/health.js';
import { ExitCode, UsageError } from '../errors.js';

export function register(program: Command): void {
  const wal = program.command('wal').description('the continuous transaction log (PostgreSQL WAL)');
  wal
    .command('stream')
    .description('stream WAL into the repository until stopped (what `serve` runs in the background)')
    .action(
      action(async (ctx) => {
        const deps = await backupDeps(ctx);
        const source = databaseSource(ctx.config);
        if (!source.streamLog) {
          throw new UsageError(
            'E_NO_LOG_STREAM',
            `database.type "${source.type}" has no continuous log to stream`,
            {
              hint: 'SQLite is backed up by scheduled full and incremental points (`safetynet serve`)',
            },
          );
        }
        const ac = new AbortController();
        const stop = (signal: NodeJS.Signals) => {
          ctx.note(`safetynet wal stream: ${signal} received, storing what arrived and stopping`);
          ac.abort();
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        ctx.note(`safetynet wal stream: streaming into ${deps.repo.storage.url} (Ctrl-C stops)`);
        try {
          await source.streamLog(deps, ac.signal);
        } finally {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
        }
      }),
    );

  program
    .command('doctor')
    .description(
      "check that the shop's PostgreSQL allows base backups and continuous WAL, and say what to change",
    )
    .option('--json', 'print the checks as JSON')
    .action(
      action(async (ctx) => {
        const pgc = ctx.config.database.postgres;
        if (!pgc) {
          ctx.print('database.type is "sqlite": nothing to check on a server (see `safetynet status`)');
          return;
        }
        const checks = await serverChecks(pgc);
        if (ctx.json) ctx.printJson({ ok: checks.every((c) => c.ok), checks });
        else
          for (const c of checks)
            ctx.print(
              `${c.ok ? 'ok  ' : 'FIX '} ${c.name.padEnd(24)} ${c.value}${c.ok ? '' : `\n     ${c.advice}`}`,
            );
        if (!checks.every((c) => c.ok)) ctx.exitCode = ExitCode.failure;
      }),
    );
}
