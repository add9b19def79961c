/**
 * The words `demo init` prints, shared by the CLI and scripts/start.mjs (which imports the built
 * copy), so `npm start` and `safetynet demo init` say the same things.
 */
import * as path from 'node:path';
import type { InitReport } from './init.js';

/** `p` as the user would type it from `cwd`. */
function shown(p: string, cwd: string): string {
  const rel = path.relative(cwd, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

/** What init created and kept, one line each. */
export function formatInitReport(report: InitReport, cwd = process.cwd()): string[] {
  const lines = [`Demo shop in ${shown(report.dir, cwd)}/ (config ${shown(report.configFile, cwd)})`];
  for (const c of report.created) lines.push(`  created  ${c.path}: ${c.what}`);
  for (const k of report.kept) lines.push(`  kept     ${k.path}: ${k.what}`);
  if (report.seed !== undefined) lines.push(`  (sample data from seed ${report.seed})`);
  for (const w of report.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

/** The command that sets a new password for the demo's admin account. */
export function passwdCommand(report: InitReport, cwd = process.cwd()): string {
  return `npx safetynet --config ${shown(report.configFile, cwd)} admin passwd --user ${report.admin.user}`;
}

/** The login block: URL, user and (only right after creating the account) the password. */
export function formatCredentials(report: InitReport, cwd = process.cwd()): string[] {
  const a = report.admin;
  if (a.created) {
    const bar = '='.repeat(72);
    return [
      bar,
      `  Admin panel:  ${report.url}`,
      `  User:         ${a.user}`,
      `  Password:     ${a.password}`,
      '',
      '  This password is shown only now (only its scrypt hash is stored). Keep it, or set a new',
      `  one any time with:  ${passwdCommand(report, cwd)}`,
      bar,
    ];
  }
  const who = a.users.includes(a.user) ? `the account "${a.user}" exists` : `accounts exist: ${a.users.join(', ')}`;
  return [
    `Admin panel: ${report.url}  (${who}; its password was shown when it was created)`,
    `Forgot it? ${passwdCommand(report, cwd)}`,
  ];
}
