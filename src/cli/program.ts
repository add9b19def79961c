/**
 * The `safetynet` command tree. Each command group lives in its own file and registers itself
 * here; this file only wires them together and sets the global flags.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Builds the program with every command registered (used by main and by tests). */
export async function buildProgram(): Promise<Command> {
  const program = new Command('safetynet')
    .description('Logs that say what happened, backups that bring everything back.')
    .version(pkg.version, '-V, --version')
    .option('--config <path>', 'config file (default: $SAFETYNET_CONFIG or ./safetynet.config.json)')
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true });

  const groups = await Promise.all([
    import('./logs.js'),
    import('./keygen.js'),
    import('./backup.js'),
    import('./restore.js'),
    import('./repository.js'),
    import('./wal.js'),
    import('./server.js'),
    import('./admin.js'),
    import('./demo.js'),
  ]);
  for (const g of groups) g.register(program);
  return program;
}
