/**
 * `safetynet restore db|files`: bring data back from the repository. Restores are deliberate:
 * they never overwrite an existing file without --force.
 */
import { Command } from 'commander';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { restoreDatabase, restoreLogStore } from '../backup/database.js';
import { parseInstant, formatDuration } from '../util/time.js';
import { formatBytes } from '../util/format.js';
import { systemClock } from '../clock.js';
import { registerRestoreFiles } from './restore-files.js';
import { UsageError } from '../errors.js';

const CHECKS = ['full', 'quick', 'none'] as const;
type Check = (typeof CHECKS)[number];

function parseCheck(v: string): Check {
  if (!(CHECKS as readonly string[]).includes(v))
    throw new UsageError('E_USAGE', `--check ${v} is not a check level`, {
      hint: 'give full (PRAGMA integrity_check), quick (header, schema and row counts; the default) or none (SHA-256 only)',
    });
  return v as Check;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError('E_USAGE', `--port ${v} is not a port number`, { hint: 'give 1 to 65535' });
  return n;
}

/** Registers `restore` and its subcommands. */
export function register(program: Command): Command {
  const restore = program
    .command('restore')
    .description('restore the database, the log store or files from a restore point');

  restore
    .command('db')
    .description(
      'rebuild the database of the newest point at or before --at (default: the newest), check it, then move it into place',
    )
    .requiredOption(
      '--to <path>',
      'SQLite: file to create; PostgreSQL: data directory to build (an existing file or non-empty folder is refused without --force)',
    )
    .option('--at <time>', 'point in time: ISO 8601 (2026-11-26T14:00:00Z) or an age such as 2h, 1d')
    .option('--point <id>', 'restore this exact point id (from `safetynet backups list`)')
    .option('--force', 'replace an existing file or folder at --to (stop the shop first)')
    .option(
      '--start',
      'PostgreSQL: start the restored server and wait until it has recovered and accepts connections',
    )
    .option('--port <n>', 'PostgreSQL: port for --start (default: a free one)', parsePort)
    .option(
      '--check <level>',
      'SQLite: structural check after the SHA-256 of every byte: full (PRAGMA integrity_check), quick (header, schema, every table walked and counted against the manifest; default), none',
      parseCheck,
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(
        async (
          ctx,
          opts: {
            to: string;
            at?: string;
            point?: string;
            force?: boolean;
            start?: boolean;
            port?: number;
            check?: Check;
          },
        ) => {
          ctx.printConfigWarnings(); // e.g. an identity file others can read
          const at = opts.at !== undefined ? parseInstant(opts.at, '--at', systemClock.now()) : undefined;
          const deps = await backupDeps(ctx);
          const r = await restoreDatabase(deps, {
            to: opts.to,
            ...(at !== undefined ? { at } : {}),
            ...(opts.point ? { pointId: opts.point } : {}),
            force: Boolean(opts.force),
            ...(opts.start ? { start: true } : {}),
            ...(opts.port ? { port: opts.port } : {}),
            ...(opts.check ? { check: opts.check } : {}),
          });
          if (ctx.json) {
            ctx.printJson({
              point: r.point.id,
              time: r.point.time,
              chain: r.chain,
              to: r.to,
              size: r.sizeBytes,
              sha256: r.sha256,
              integrity: r.integrity,
              tables: r.tables,
              durationMs: r.durationMs,
              phases: r.phases,
              ...r.facts,
            });
          } else if (r.facts.walSegments !== undefined) {
            ctx.print(
              `restored base backup ${r.point.id} (${r.point.time}) and ${r.facts.walSegments} WAL segments to ${r.to} (recovery target: ${r.facts.target}), in ${formatDuration(r.durationMs)}`,
            );
            if (r.facts.walGap)
              ctx.note(`warning: WAL ends at the missing segment ${r.facts.walGap}; recovery stops there`);
            if (r.server)
              ctx.print(
                `the restored server runs on 127.0.0.1:${r.server.port} (as the OS user ${ctx.config.database.postgres?.osUser}); stop it with pg_ctl stop -D ${r.to}`,
              );
            else
              ctx.print(
                `start it with: pg_ctl start -D ${r.to} (as the OS user ${ctx.config.database.postgres?.osUser})`,
              );
          } else {
            const checked = {
              full: 'SHA-256, fsync and integrity_check ok',
              quick: 'SHA-256, fsync and quick check (header, schema, row counts) ok',
              none: 'SHA-256 and fsync ok, no structural check',
            }[(r.facts.check as Check | undefined) ?? 'full'];
            ctx.print(
              `restored point ${r.point.id} (${r.point.time}, chain of ${r.chain.length}) to ${r.to}: ${formatBytes(r.sizeBytes)}, ${checked}, in ${formatDuration(r.durationMs)}`,
            );
          }
        },
      ),
    );
  restore
    .command('logs')
    .description(
      'rebuild the SQLite log store of the newest "logs" point at or before --at (default: the newest), check it, then move it into place',
    )
    .requiredOption('--to <path>', 'file to create (an existing file is refused without --force)')
    .option('--at <time>', 'point in time: ISO 8601 (2026-11-26T14:00:00Z) or an age such as 2h, 1d')
    .option('--point <id>', 'restore this exact point id (from `safetynet backups list`)')
    .option('--force', 'replace an existing file at --to (stop safetynet and the shop first)')
    .option('--check <level>', 'structural check after the SHA-256: full, quick (default), none', parseCheck)
    .option('--json', 'print the result as JSON')
    .action(
      action(
        async (ctx, opts: { to: string; at?: string; point?: string; force?: boolean; check?: Check }) => {
          ctx.printConfigWarnings();
          const at = opts.at !== undefined ? parseInstant(opts.at, '--at', systemClock.now()) : undefined;
          const deps = await backupDeps(ctx);
          const r = await restoreLogStore(deps, {
            to: opts.to,
            ...(at !== undefined ? { at } : {}),
            ...(opts.point ? { pointId: opts.point } : {}),
            force: Boolean(opts.force),
            ...(opts.check ? { check: opts.check } : {}),
          });
          if (ctx.json) {
            ctx.printJson({
              point: r.point.id,
              time: r.point.time,
              chain: r.chain,
              to: r.to,
              size: r.sizeBytes,
              sha256: r.sha256,
              tables: r.tables,
              durationMs: r.durationMs,
              ...r.facts,
            });
          } else {
            ctx.print(
              `restored log store point ${r.point.id} (${r.point.time}, chain of ${r.chain.length}) to ${r.to}: ${formatBytes(r.sizeBytes)}, check ${String(r.facts.check ?? 'quick')} ok, in ${formatDuration(r.durationMs)}; check it with \`safetynet logs verify\` against a config whose logs.store.path is this file`,
            );
          }
        },
      ),
    );
  registerRestoreFiles(restore);
  return restore;
}
