/**
 * `safetynet restore files --to DIR [--at TIME] [--point ID] [--set NAME] [--path GLOB] [--force] [--json]`:
 * everything, one set, or single files as of a time, into DIR/<set>/<path>. Every file's SHA-256
 * is verified; exits 1 when any file failed its check.
 */
import type { Command } from 'commander';
import { action } from './context.js';
import { backupDeps } from './backup-deps.js';
import { restoreFiles, type RestoreFilesResult } from '../backup/sources/files/restore.js';
import { formatBytes } from '../util/format.js';
import { formatDuration, parseInstant } from '../util/time.js';
import { systemClock } from '../clock.js';
import { ExitCode } from '../errors.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface RestoreFilesFlags {
  to: string;
  at?: string;
  point?: string;
  set?: string;
  path: string[];
  force?: boolean;
}

/** Registers `files` under the `restore` command. */
export function registerRestoreFiles(restore: Command): Command {
  return restore
    .command('files')
    .description(
      'restore files (all, one set, or single files) as of a time into DIR/<set>/<path>, verifying every SHA-256',
    )
    .requiredOption(
      '--to <dir>',
      'folder to restore into (created if missing); existing files are refused without --force',
    )
    .option(
      '--at <time>',
      'point in time: ISO 8601 (2026-11-26T14:00:00Z) or an age such as 2h, 1d; default: the newest',
    )
    .option('--point <id>', 'restore this exact files point (from `safetynet backups list`)')
    .option('--set <name>', 'only this file set')
    .option(
      '--path <glob>',
      'only paths matching (relative to the set, or with the set name first); repeatable',
      collect,
      [],
    )
    .option('--force', 'replace existing files and links under --to (never folders)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: RestoreFilesFlags) => {
        const at = opts.at !== undefined ? parseInstant(opts.at, '--at', systemClock.now()) : undefined;
        const deps = await backupDeps(ctx);
        const r = await restoreFiles(deps, {
          to: opts.to,
          ...(at !== undefined ? { at } : {}),
          ...(opts.point ? { pointId: opts.point } : {}),
          ...(opts.set ? { set: opts.set } : {}),
          ...(opts.path.length ? { paths: opts.path } : {}),
          force: Boolean(opts.force),
        });
        if (ctx.json) ctx.printJson(restoreResultJson(r));
        else for (const line of describeRestoreResult(r)) ctx.print(line);
        if (r.failures.length) ctx.exitCode = ExitCode.failure;
      }),
    );
}

export function restoreResultJson(r: RestoreFilesResult): Record<string, unknown> {
  return { ...r, ok: r.failures.length === 0 };
}

export function describeRestoreResult(r: RestoreFilesResult): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  const from = r.points
    .map((p) => `${p.id} (${p.sets.join(', ')}${p.incomplete ? '; an incomplete point' : ''})`)
    .join(', ');
  const lines = [
    `restored ${n(r.files)} file(s) (${formatBytes(r.bytes)}), ${n(r.dirs)} folder(s), ${n(r.symlinks)} link(s) from ${from} into ${r.to}; ` +
      `${n(r.verified)} SHA-256 verified, in ${formatDuration(r.durationMs)}`,
  ];
  if (r.failures.length) {
    lines.push(`FAILED: ${r.failures.length} path(s) were not restored:`);
    for (const f of r.failures.slice(0, 100)) lines.push(`  ${f.set}/${f.path}: ${f.message}`);
    if (r.failures.length > 100) lines.push(`  … and ${r.failures.length - 100} more (see --json)`);
  }
  return lines;
}
