/**
 * `safetynet backup db|files|all`: take restore points now.
 */
import { Command, Option } from 'commander';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { backupDatabase, backupLogStore } from '../backup/database.js';
import { backupAll } from '../backup/backup-all.js';
import { registerBackupFiles, filesResultJson, describeFilesResult } from './backup-files.js';
import { ExitCode, UsageError } from '../errors.js';
import type { DbBackupResult } from '../backup/sources/types.js';
import { formatBytes } from '../util/format.js';
import { formatDuration } from '../util/time.js';

/** Registers `backup` and its subcommands. */
export function register(program: Command): Command {
  const backup = program
    .command('backup')
    .description('take a restore point now (database, log store, files, or all)');

  backup
    .command('db')
    .description(
      'back up the shop database: SQLite: full if none exists today, else incremental; PostgreSQL: a base backup',
    )
    .addOption(new Option('--full', 'force a full backup').conflicts('incremental'))
    .addOption(
      new Option('--incremental', 'only the pages changed since the previous point').conflicts('full'),
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { full?: boolean; incremental?: boolean }) => {
        const deps = await backupDeps(ctx);
        const r = await backupDatabase(deps, {
          mode: opts.full ? 'full' : opts.incremental ? 'incremental' : 'auto',
        });
        if (ctx.json) ctx.printJson(dbResultJson(r));
        else ctx.print(describeDbResult(r));
      }),
    );
  backup
    .command('logs')
    .description(
      'back up the SQLite log store as its own restore points (source "logs"): full if none exists today, else incremental',
    )
    .addOption(new Option('--full', 'force a full backup').conflicts('incremental'))
    .addOption(
      new Option('--incremental', 'only the pages changed since the previous point').conflicts('full'),
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { full?: boolean; incremental?: boolean }) => {
        const deps = await backupDeps(ctx);
        const r = await backupLogStore(deps, {
          mode: opts.full ? 'full' : opts.incremental ? 'incremental' : 'auto',
        });
        if (!r) {
          throw new UsageError(
            'E_USAGE',
            'the log store is PostgreSQL: safetynet takes no log-store points',
            {
              hint: 'back up the PostgreSQL cluster that holds it (when it is the shop cluster, `backup db` and the WAL stream cover it); see docs/disaster-recovery.md',
            },
          );
        }
        if (ctx.json) ctx.printJson(dbResultJson(r));
        else ctx.print(describeDbResult(r));
      }),
    );
  backup
    .command('all')
    .description('back up the database and every file set in one run, as one restore point set')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx) => {
        ctx.printConfigWarnings();
        const deps = await backupDeps(ctx);
        const r = await backupAll(deps);
        if (ctx.json) {
          ctx.printJson({
            set: r.set,
            time: r.time,
            database: dbResultJson(r.database),
            logs: r.logs ? dbResultJson(r.logs) : null,
            files: filesResultJson(r.files),
          });
        } else {
          ctx.print(describeDbResult(r.database));
          if (r.logs) ctx.print(describeDbResult(r.logs));
          for (const line of describeFilesResult(r.files)) ctx.print(line);
          ctx.print(`restore point set ${r.set} at ${r.time}`);
        }
        // An incomplete files point is stored (what could be read is safe), but the run failed.
        if (r.files.problems.length) ctx.exitCode = ExitCode.failure;
      }),
    );
  registerBackupFiles(backup);
  return backup;
}

/** The `--json` shape of a database backup result. */
export function dbResultJson(r: DbBackupResult): Record<string, unknown> {
  return {
    id: r.entry.id,
    kind: r.kind,
    source: r.entry.source,
    time: r.entry.time,
    parent: r.entry.parent,
    set: r.entry.set,
    reason: r.reason,
    size: r.entry.logicalBytes,
    storedBytes: r.entry.storedBytes,
    ...r.facts,
    durationMs: r.durationMs,
    objects: r.entry.objects.map((o) => o.key),
  };
}

/** One human line about a database backup. */
export function describeDbResult(r: DbBackupResult): string {
  return `${r.line}, ${formatBytes(r.entry.storedBytes)} stored in ${formatDuration(r.durationMs)} (${r.reason})`;
}
