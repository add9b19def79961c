/**
 * Commands about the repository as a whole: `backups list`, `verify`, `prune`, `unlock`.
 */
import { Command } from 'commander';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { verifyRepository } from '../backup/verify.js';
import { pruneRepository } from '../backup/prune.js';
import { listAllLocks, removeLocks, describeLock } from '../backup/repo/lock.js';
import { openRepository } from '../backup/context.js';
import { systemClock } from '../clock.js';
import { formatBytes, formatTable } from '../util/format.js';
import { formatDuration } from '../util/time.js';
import { ExitCode } from '../errors.js';

export function register(program: Command): void {
  const backups = program.command('backups').description('the restore points in the repository');
  backups
    .command('list')
    .description('list restore points (database and files), oldest first')
    .option('--json', 'one JSON object per line')
    .action(
      action(async (ctx) => {
        const repo = openRepository(ctx.config, systemClock);
        ctx.defer(() => repo.close());
        await repo.requireConfig();
        const { entries, damaged } = await repo.scanCatalog();
        if (ctx.json) {
          for (const e of entries) {
            ctx.printJson({
              id: e.id,
              kind: e.kind,
              source: e.source,
              time: e.time,
              size: e.logicalBytes,
              storedBytes: e.storedBytes,
              parent: e.parent,
              set: e.set,
              ...(e.incomplete ? { incomplete: true } : {}),
              objects: e.objects.map((o) => o.key),
            });
          }
        } else if (entries.length === 0) {
          ctx.print(`no restore points in ${repo.storage.url}`);
        } else {
          ctx.print(
            formatTable(
              ['ID', 'KIND', 'SOURCE', 'TIME (UTC)', 'SIZE', 'STORED', 'PARENT'],
              entries.map((e) => [
                e.id,
                e.kind + (e.incomplete ? ' (incomplete)' : ''),
                e.source,
                e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
                formatBytes(e.logicalBytes),
                formatBytes(e.storedBytes),
                e.parent ?? '',
              ]),
            ),
          );
          const stored = entries.reduce((n, e) => n + e.storedBytes, 0);
          ctx.print(
            `\n${entries.length} restore points, ${formatBytes(stored)} stored in ${repo.storage.url}`,
          );
        }
        for (const d of damaged) ctx.note(`safetynet: warning: damaged catalog entry ${d.key}: ${d.message}`);
      }),
    );

  program
    .command('verify')
    .description(
      'check that every restore point can be restored (--read-data downloads and checks every object)',
    )
    .option(
      '--read-data',
      'download every object and check its checksum (and decrypt it when backup.identity is set)',
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { readData?: boolean }) => {
        const deps = await backupDeps(ctx);
        const r = await verifyRepository(deps, { readData: Boolean(opts.readData) });
        if (ctx.json) ctx.printJson(r);
        else {
          for (const p of r.problems) {
            ctx.print(`PROBLEM ${p.kind}: ${p.message}`);
            if (p.points.length) ctx.print(`  affects restore points: ${p.points.join(', ')}`);
          }
          const how = r.readData
            ? r.decrypted
              ? 'read, decrypted and checked'
              : 'read and checked'
            : 'present with the right size';
          ctx.print(
            `${r.ok ? 'OK' : 'FAILED'}: ${r.points} restore points, ${r.objects} objects ${how}${r.readData ? ` (${formatBytes(r.bytesRead)})` : ''}, ${r.problems.length} problems, in ${formatDuration(r.durationMs)}`,
          );
          if (r.note) ctx.note(`note: ${r.note}`);
        }
        const level = r.ok ? 'info' : 'error';
        await deps.log[level](
          r.ok
            ? `verify${r.readData ? ' --read-data' : ''}: ${r.points} restore points OK`
            : `verify found ${r.problems.length} problems`,
          { details: { ...r, problems: r.problems.slice(0, 100) } },
        );
        if (!r.ok) ctx.exitCode = ExitCode.failure;
      }),
    );

  program
    .command('prune')
    .description('apply backup.retention: remove restore points no longer kept, and the data only they used')
    .option('--dry-run', 'only say what would be kept and removed, and why')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { dryRun?: boolean }) => {
        const deps = await backupDeps(ctx);
        const r = await pruneRepository(deps, { dryRun: Boolean(opts.dryRun) });
        if (ctx.json) ctx.printJson(r);
        else {
          const verb = r.dryRun ? 'would remove' : 'removed';
          for (const d of r.decisions) {
            ctx.print(
              `${d.keep ? 'keep  ' : 'remove'} ${d.id} ${d.source}/${d.kind}  ${d.reasons.join('; ')}`,
            );
          }
          if (r.log) {
            for (const line of r.log.explain) ctx.print(`wal    ${line}`);
            ctx.print(`wal    kept ${r.log.kept} objects, ${verb} ${r.log.removed}`);
          }
          ctx.print(
            `${r.dryRun ? 'dry run: ' : ''}kept ${r.kept}, ${verb} ${r.removed} restore points and ${r.orphans} leftover objects, ${formatBytes(r.freedBytes)} ${r.dryRun ? 'would be ' : ''}freed`,
          );
          if (r.damagedCatalog.length) {
            ctx.note(
              `warning: leftover objects were not swept because of damaged catalog entries: ${r.damagedCatalog.join(', ')} (run \`safetynet verify\`)`,
            );
          }
        }
      }),
    );

  program
    .command('unlock')
    .description(
      'remove stale repository locks, the serve instance lock included (or all locks with --all, when you are sure no run is active)',
    )
    .option('--all', 'remove every lock, also live-looking ones')
    .option('--json', 'print the removed locks as JSON')
    .action(
      action(async (ctx, opts: { all?: boolean }) => {
        const repo = openRepository(ctx.config, systemClock);
        ctx.defer(() => repo.close());
        const before = await listAllLocks(repo.storage);
        const removed = await removeLocks(repo.storage, { all: Boolean(opts.all), clock: systemClock });
        if (ctx.json) ctx.printJson({ removed, remaining: before.length - removed.length });
        else {
          for (const l of removed) ctx.print(`removed ${describeLock(l)}`);
          const left = before.length - removed.length;
          ctx.print(
            `${removed.length} locks removed${left ? `, ${left} live locks left (use --all if you are sure they are dead)` : ''}`,
          );
        }
        if (removed.length) {
          const log = await ctx.logger();
          await log.backup.warn(`unlock removed ${removed.length} repository locks`, {
            details: { removed },
          });
        }
      }),
    );
}
