/**
 * `safetynet admin …`: the admin panel's accounts (config `admin.users`, a JSON file, mode 0600).
 *
 *   safetynet admin add --user NAME [--password-stdin]
 *   safetynet admin list [--json]
 *   safetynet admin passwd --user NAME [--password-stdin]
 *   safetynet admin remove --user NAME
 *
 * Passwords come from a prompt without echo (on a terminal) or from stdin; they are never printed
 * or logged. Every change, and every failed change, is an `admin` log entry naming the OS user.
 */
import type { Command } from 'commander';
import * as os from 'node:os';
import * as readline from 'node:readline';
import { Writable } from 'node:stream';
import { SafetynetError, UsageError } from '../errors.js';
import { createLogger } from '../log/index.js';
import { auditAdmin, type AuditLogger } from '../web/audit.js';
import { PASSWORD_RULES } from '../web/auth/password.js';
import { FileAdminUserStore, checkUserName } from '../web/auth/users.js';
import { action, type CommandContext } from './context.js';

interface UserOptions {
  user: string;
  passwordStdin?: boolean;
  json?: boolean;
}

/** Reads everything on stdin; one trailing newline (from `echo` or a file) is not part of the password. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks on the terminal without echoing what is typed. */
async function promptHidden(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = readline.createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.question(question, (answer) => resolve(answer));
      rl.on('SIGINT', () =>
        reject(
          new UsageError('E_CANCELLED', 'cancelled', { hint: 'run the command again to set a password' }),
        ),
      );
      muted = true;
    });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** The new password: from stdin with --password-stdin, else asked twice on the terminal. */
async function newPassword(ctx: CommandContext, opts: UserOptions): Promise<string> {
  if (opts.passwordStdin) return readStdin();
  if (!process.stdin.isTTY) {
    throw new UsageError('E_NO_TTY', 'there is no terminal to ask for the password', {
      hint: 'pipe the password in and pass --password-stdin, e.g. printf %s "$PW" | safetynet admin add --user NAME --password-stdin',
    });
  }
  ctx.note(`Password rules: ${PASSWORD_RULES}.`);
  const first = await promptHidden(`New password for ${opts.user}: `);
  const second = await promptHidden('Repeat it: ');
  if (first !== second) {
    throw new UsageError('E_PASSWORD_MISMATCH', 'the two passwords differ', {
      hint: 'run the command again and type the same password twice',
    });
  }
  return first;
}

function cliOrigin(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `cli:${user}@${os.hostname()}`;
}

/** Opens the logger for the audit entry of a change; closed (flushed) when the command ends. */
async function auditLogger(ctx: CommandContext): Promise<AuditLogger> {
  const logger = await createLogger({ config: ctx.config, writer: 'inline', notify: (t) => ctx.note(t) });
  ctx.defer(() => logger.close());
  return logger;
}

/** Runs one account change and writes its `admin` entry, whether it worked or not. */
async function change(
  ctx: CommandContext,
  auditAction: string,
  user: string,
  what: string,
  run: () => Promise<void>,
): Promise<void> {
  const logger = await auditLogger(ctx);
  const origin = cliOrigin();
  try {
    await run();
  } catch (err) {
    await auditAdmin(logger, `admin account change failed: ${what} "${user}"`, {
      actor: origin,
      action: auditAction,
      outcome: 'failure',
      origin,
      target: user,
      reason: err instanceof SafetynetError ? err.code : 'internal error',
    });
    throw err;
  }
  await auditAdmin(logger, `admin account change: ${what} "${user}"`, {
    actor: origin,
    action: auditAction,
    outcome: 'success',
    origin,
    target: user,
  });
}

export function register(program: Command): void {
  const admin = program
    .command('admin')
    .description('manage the accounts of the admin panel (file: admin.users)');

  admin
    .command('add')
    .description('add an admin account (password from a prompt, or stdin with --password-stdin)')
    .requiredOption('--user <name>', 'user name: 1-64 letters, digits, ".", "_", "@", "-"')
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .option('--json', 'print the result as one JSON object')
    .addHelpText('after', `\nPassword rules: ${PASSWORD_RULES}.`)
    .action(
      action(async (ctx, opts: UserOptions) => {
        checkUserName(opts.user);
        const users = new FileAdminUserStore(ctx.config.admin.users);
        const password = await newPassword(ctx, opts);
        await change(ctx, 'user.add', opts.user, 'added user', () => users.add(opts.user, password));
        if (ctx.json) ctx.printJson({ added: opts.user, file: users.file });
        else ctx.print(`Added admin user "${opts.user}" (${users.file}).`);
      }),
    );

  admin
    .command('list')
    .description('list the admin accounts (names and dates, never hashes)')
    .option('--json', 'print one JSON array')
    .action(
      action(async (ctx) => {
        const users = new FileAdminUserStore(ctx.config.admin.users);
        const list = await users.list();
        if (ctx.json) {
          ctx.printJson(list);
          return;
        }
        if (list.length === 0) {
          ctx.print(`No admin users yet (${users.file}). Add one: safetynet admin add --user NAME`);
          return;
        }
        const width = Math.max(4, ...list.map((u) => u.name.length));
        ctx.print(`${'USER'.padEnd(width)}  CREATED (UTC)         PASSWORD CHANGED (UTC)`);
        for (const u of list) {
          ctx.print(
            `${u.name.padEnd(width)}  ${u.createdAt.slice(0, 19).replace('T', ' ')}   ${u.passwordChangedAt.slice(0, 19).replace('T', ' ')}`,
          );
        }
      }),
    );

  admin
    .command('passwd')
    .description("change an admin's password (ends that user's sessions)")
    .requiredOption('--user <name>', 'the user')
    .option('--password-stdin', 'read the new password from stdin instead of prompting')
    .option('--json', 'print the result as one JSON object')
    .addHelpText('after', `\nPassword rules: ${PASSWORD_RULES}.`)
    .action(
      action(async (ctx, opts: UserOptions) => {
        const users = new FileAdminUserStore(ctx.config.admin.users);
        if (!(await users.list()).some((u) => u.name === opts.user)) {
          throw new UsageError('E_USER_UNKNOWN', `there is no admin user "${opts.user}"`, {
            hint: 'run "safetynet admin list" to see the user names',
          });
        }
        const password = await newPassword(ctx, opts);
        await change(ctx, 'user.passwd', opts.user, 'changed password of', () =>
          users.setPassword(opts.user, password),
        );
        if (ctx.json) ctx.printJson({ changed: opts.user });
        else ctx.print(`Changed the password of "${opts.user}"; their open sessions have ended.`);
      }),
    );

  admin
    .command('remove')
    .description('remove an admin account (ends its sessions)')
    .requiredOption('--user <name>', 'the user')
    .option('--json', 'print the result as one JSON object')
    .action(
      action(async (ctx, opts: UserOptions) => {
        const users = new FileAdminUserStore(ctx.config.admin.users);
        await change(ctx, 'user.remove', opts.user, 'removed user', () => users.remove(opts.user));
        if (ctx.json) ctx.printJson({ removed: opts.user });
        else ctx.print(`Removed admin user "${opts.user}".`);
      }),
    );
}
