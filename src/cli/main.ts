#!/usr/bin/env node
/**
 * Entry point of the `safetynet` binary: parses argv, runs the command, and turns errors into
 * one readable line plus a hint and a stable exit code. A user mistake never prints a stack trace.
 */
import { CommanderError } from 'commander';
import { ExitCode, SafetynetError } from '../errors.js';
import { buildProgram } from './program.js';

async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  const wantsJson = argv.includes('--json');
  program.exitOverride();
  // Commander writes its own messages for parse errors; we reformat them below instead. What it
  // writes is kept: the help it shows for a group called without a subcommand is printed below.
  let errText = '';
  const output = { writeErr: (t: string) => void (errText += t), outputError: () => {} };
  program.configureOutput(output);
  for (const cmd of allCommands(program)) {
    cmd.exitOverride();
    cmd.configureOutput(output);
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        process.exitCode = 0;
        return;
      }
      if (err.code === 'commander.help') {
        // A command group (`backups`, `logs` …) without its subcommand: show its help, exit 2.
        process.stderr.write(errText);
        report(
          new SafetynetError('E_USAGE', 'this command needs a subcommand (listed above)', {
            hint: 'add one of the commands listed above (`--help` after any command shows its flags)',
            exitCode: ExitCode.usage,
          }),
          wantsJson,
        );
        return;
      }
      const message = err.message.replace(/^error: /, '');
      report(
        new SafetynetError('E_USAGE', message, {
          hint: 'run the command with --help to see its flags and allowed values',
          exitCode: ExitCode.usage,
        }),
        wantsJson,
      );
      return;
    }
    if (err instanceof SafetynetError) {
      report(err, wantsJson);
      return;
    }
    // A bug, not a user mistake: show everything we know.
    process.stderr.write(
      `safetynet: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = ExitCode.failure;
  }
}

function report(err: SafetynetError, json: boolean): void {
  if (json) {
    process.stderr.write(JSON.stringify(err.toJSON()) + '\n');
  } else {
    process.stderr.write(`safetynet: ${err.message} [${err.code}]\n`);
    if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  }
  process.exitCode = err.exitCode;
}

function* allCommands(cmd: import('commander').Command): Generator<import('commander').Command> {
  for (const sub of cmd.commands) {
    yield sub;
    yield* allCommands(sub);
  }
}

await main(process.argv);
