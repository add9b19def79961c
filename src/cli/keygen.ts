/**
 * `safetynet keygen [--out FILE] [--force] [--json]`: creates the age identity that backups are
 * sealed to. Writes the identity file (mode 0600, age-keygen's format, so `age -d -i FILE` reads
 * it) and prints the recipient (public key) for `backup.recipients`. The secret goes only into
 * that file: never to stdout, logs or the repository.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { writeNewIdentityFile } from '../backup/crypto/index.js';
import type { SafetynetConfig } from '../config/index.js';
import { UsageError } from '../errors.js';
import { action, type CommandContext } from './context.js';

/** Where the identity goes when neither --out nor backup.identity says: next to the other data files. */
export const DEFAULT_IDENTITY_FILE = 'data/backup-identity.txt';

interface KeygenOptions {
  out?: string;
  force?: boolean;
  json?: boolean;
}

function tryConfig(ctx: CommandContext): SafetynetConfig | null {
  try {
    return ctx.config;
  } catch {
    return null;
  }
}

/** The local folder of a file:// repository, if that is what the config names. */
function localRepository(config: SafetynetConfig | null): string | null {
  const repo = config?.backup.repository;
  return repo?.startsWith('file://') ? repo.slice('file://'.length) : null;
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function register(program: Command): void {
  program
    .command('keygen')
    .description('create the age identity backups are encrypted to, and print its public key (recipient)')
    .option(
      '--out <file>',
      `identity file to write (default: backup.identity from the config, else ${DEFAULT_IDENTITY_FILE} next to the config)`,
    )
    .option(
      '--force',
      'replace an existing identity file (backups sealed to the old identity become unreadable)',
    )
    .option('--json', 'print the result as one JSON object')
    .action(
      action(async (ctx, opts: KeygenOptions) => {
        // --out alone needs no config; without it the config decides (and must load).
        const config = opts.out ? tryConfig(ctx) : ctx.config;
        const file = opts.out
          ? path.resolve(opts.out)
          : (config!.backup.identity ?? path.join(config!.baseDir, DEFAULT_IDENTITY_FILE));

        const repo = localRepository(config);
        if (repo && isInside(file, repo)) {
          throw new UsageError(
            'E_IDENTITY_IN_REPOSITORY',
            `${file} is inside the backup repository ${repo}`,
            {
              hint: 'the identity must never be stored with the backups it unlocks: choose an --out outside backup.repository',
            },
          );
        }

        const { recipient } = await writeNewIdentityFile(file, { force: Boolean(opts.force) });
        const base = config?.baseDir ?? process.cwd();
        const shown = isInside(file, base) ? path.relative(base, file) : file;

        if (ctx.json) {
          ctx.printJson({ recipient, identityFile: file });
          return;
        }
        // stdout carries only the recipient, so `R=$(safetynet keygen)` works; guidance goes to stderr.
        ctx.print(recipient);
        ctx.note(`Wrote a new age identity to ${file} (mode 0600).`);
        ctx.note('Next:');
        ctx.note(
          '  1. Put the public key in backup.recipients and the file in backup.identity (config), e.g.',
        );
        ctx.note(`       "backup": { "recipients": ["${recipient}"], "identity": "${shown}" }`);
        ctx.note(
          '  2. Keep a copy of the identity file somewhere safe and OFF the backup storage (a password',
        );
        ctx.note(
          '     manager, an offline USB key). Without it no backup can be restored; anyone with it can read them.',
        );
      }),
    );
}
