/**
 * `safetynet backup files [--set NAME] [--json]`: one files restore point covering every
 * configured file set (or the named ones). Exits 1 when the point is incomplete (some files could
 * not be read as they were); the point is still written and lists them.
 */
import type { Command } from 'commander';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { backupFiles, type BackupFilesResult } from '../backup/sources/files/backup.js';
import { formatBytes } from '../util/format.js';
import { formatDuration } from '../util/time.js';
import { ExitCode } from '../errors.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Registers `files` under the `backup` command. */
export function registerBackupFiles(backup: Command): Command {
  return backup
    .command('files')
    .description(
      'back up the configured file sets (invoices, images, config): incremental, deduplicated, encrypted',
    )
    .option(
      '--set <name>',
      'only this file set (repeat for several); default: every set in backup.files',
      collect,
      [],
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { set: string[] }) => {
        ctx.printConfigWarnings();
        const deps = await backupDeps(ctx);
        const r = await backupFiles(deps, opts.set.length ? { sets: opts.set } : {});
        if (ctx.json) ctx.printJson(filesResultJson(r));
        else for (const line of describeFilesResult(r)) ctx.print(line);
        if (r.problems.length) ctx.exitCode = ExitCode.failure;
      }),
    );
}

/** The `--json` shape of a files backup result. */
export function filesResultJson(r: BackupFilesResult): Record<string, unknown> {
  return {
    id: r.entry.id,
    kind: r.entry.kind,
    source: r.entry.source,
    time: r.entry.time,
    set: r.entry.set,
    sets: String(r.entry.summary?.sets ?? '')
      .split(',')
      .filter(Boolean),
    incomplete: r.problems.length > 0,
    files: r.stats.files,
    size: r.entry.logicalBytes,
    storedBytes: r.entry.storedBytes,
    stats: r.stats,
    problems: r.problems,
    skipped: r.skipped,
    missingSets: r.missingSets,
    objects: r.entry.objects.map((o) => o.key),
  };
}

/** Human lines about a files backup. */
export function describeFilesResult(r: BackupFilesResult): string[] {
  const s = r.stats;
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `files backup ${r.entry.id}: ${n(s.files)} files (${formatBytes(s.bytes)}) in ${s.sets} set(s) [${String(r.entry.summary?.sets ?? '')}]; ` +
      `read ${n(s.filesRead)} (${formatBytes(s.bytesRead)}), ${n(s.filesUnchanged)} unchanged; ` +
      `${formatBytes(s.storedBytes)} stored in ${n(s.packsNew)} new pack(s), in ${formatDuration(s.durationMs)}`,
  ];
  for (const m of r.missingSets) lines.push(`  skipped set "${m}": its folder does not exist`);
  for (const k of r.skipped) lines.push(`  skipped ${k.set}/${k.path}: ${k.reason}`);
  if (r.problems.length) {
    lines.push(`INCOMPLETE: ${r.problems.length} path(s) could not be backed up as they were:`);
    for (const p of r.problems.slice(0, 100)) {
      lines.push(
        `  ${p.set}/${p.path}: ${p.message}${p.previousVersionKept ? ' (its previous version is kept in this point)' : ''}`,
      );
    }
    if (r.problems.length > 100) lines.push(`  … and ${r.problems.length - 100} more (see --json)`);
  }
  return lines;
}
