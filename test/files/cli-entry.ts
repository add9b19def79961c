/**
 * Test entry for the `safetynet` CLI with the file commands attached: the real program
 * (buildProgram), plus `backup files` / `restore files` when src/cli/backup.ts and restore.ts do
 * not attach them yet, and the same error reporting as src/cli/main.ts. Once the lead's wiring
 * lands, this only adds nothing and the tests can move to test/helpers/cli.ts (the built CLI).
 *
 *   node --import tsx test/files/cli-entry.ts backup files --json
 */
import { CommanderError, type Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { registerBackupFiles } from '../../src/cli/backup-files.js';
import { registerRestoreFiles } from '../../src/cli/restore-files.js';
import { ExitCode, SafetynetError } from '../../src/errors.js';

const program = await buildProgram();
const group = (name: string): Command =>
  program.commands.find((c) => c.name() === name) ?? program.command(name);
const backup = group('backup');
if (!backup.commands.some((c) => c.name() === 'files')) registerBackupFiles(backup);
const restore = group('restore');
if (!restore.commands.some((c) => c.name() === 'files')) registerRestoreFiles(restore);

const json = process.argv.includes('--json');
const quiet = (c: Command) => {
  c.exitOverride();
  c.configureOutput({ writeErr: () => {}, outputError: () => {} });
  c.commands.forEach(quiet);
};
quiet(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  let e = err;
  if (err instanceof CommanderError) {
    e =
      err.exitCode === 0
        ? null
        : new SafetynetError('E_USAGE', err.message.replace(/^error: /, ''), { exitCode: ExitCode.usage });
  }
  if (e instanceof SafetynetError) {
    process.stderr.write(
      json
        ? JSON.stringify(e.toJSON()) + '\n'
        : `safetynet: ${e.message} [${e.code}]\n${e.hint ? `  hint: ${e.hint}\n` : ''}`,
    );
    process.exitCode = e.exitCode;
  } else if (e) {
    process.stderr.write(
      `safetynet: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exitCode = ExitCode.failure;
  }
}
