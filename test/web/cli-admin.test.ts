/**
 * `safetynet admin …` as a real child process (run `npm run build` first), against a temp folder
 * with the embedded defaults (data/admin-users.json, data/logs.sqlite).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteLogStore } from '../../src/log/index.js';
import { CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

async function adminEntries(cwd: string) {
  const store = SqliteLogStore.open(path.join(cwd, 'data', 'logs.sqlite'));
  try {
    return (await store.search({ categories: ['admin'] })).entries;
  } finally {
    await store.close();
  }
}

describe('safetynet admin', () => {
  it('add, list, passwd, remove — with audit entries and no password anywhere', async () => {
    const cwd = tempDir();
    const add = await runCli(['admin', 'add', '--user', 'alice', '--password-stdin'], {
      cwd,
      input: 'correct horse battery\n',
    });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toContain('Added admin user "alice"');
    const file = path.join(cwd, 'data', 'admin-users.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    expect(stored.users[0].hash).toMatch(/^scrypt\$65536\$8\$2\$/);

    const list = await runCli(['admin', 'list', '--json'], { cwd });
    expect(JSON.parse(list.stdout)).toEqual([
      { name: 'alice', createdAt: expect.any(String), passwordChangedAt: expect.any(String) },
    ]);
    const table = await runCli(['admin', 'list'], { cwd });
    expect(table.stdout).toMatch(/^USER\s+CREATED \(UTC\)/);

    const weak = await runCli(['admin', 'passwd', '--user', 'alice', '--password-stdin'], {
      cwd,
      input: 'short',
    });
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain('at least 12 are required [E_WEAK_PASSWORD]');
    const passwd = await runCli(['admin', 'passwd', '--user', 'alice', '--password-stdin'], {
      cwd,
      input: 'another long passphrase',
    });
    expect(passwd.code).toBe(0);
    const dup = await runCli(['admin', 'add', '--user', 'ALICE', '--password-stdin'], {
      cwd,
      input: 'correct horse battery',
    });
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain('[E_USER_EXISTS]');
    const rm = await runCli(['admin', 'remove', '--user', 'alice'], { cwd });
    expect(rm.code).toBe(0);
    const gone = await runCli(['admin', 'remove', '--user', 'alice'], { cwd });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('there is no admin user "alice"');

    const entries = await adminEntries(cwd);
    expect(entries.map((e) => [e.details.action, e.details.outcome, e.details.target])).toEqual([
      ['user.remove', 'failure', 'alice'],
      ['user.remove', 'success', 'alice'],
      ['user.add', 'failure', 'ALICE'],
      ['user.passwd', 'success', 'alice'],
      ['user.passwd', 'failure', 'alice'],
      ['user.add', 'success', 'alice'],
    ]);
    expect(String(entries[0]!.details.actor)).toMatch(/^cli:/);
    const all = JSON.stringify(entries) + readFileSync(file, 'utf8') + add.stdout + passwd.stdout;
    expect(all).not.toContain('correct horse');
    expect(all).not.toContain('another long passphrase');
  });

  it('without a terminal and without --password-stdin it says what to do', async () => {
    const cwd = tempDir();
    const res = await runCli(['admin', 'add', '--user', 'bob'], { cwd });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('there is no terminal to ask for the password [E_NO_TTY]');
    expect(res.stderr).toContain('--password-stdin');
    const badName = await runCli(['admin', 'add', '--user', 'no spaces please', '--password-stdin'], {
      cwd,
      input: 'correct horse battery',
    });
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('[E_BAD_USER]');
  });

  it('on a terminal it prompts twice without echoing the password', () => {
    const cwd = tempDir();
    // A real pseudo-terminal (python's pty): what the terminal shows is everything read back from it.
    const driver = `
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.chdir(sys.argv[3])
    os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], 'admin', 'add', '--user', 'carol'])
out = b''
def read_until(token):
    global out
    while token not in out:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return
        if not chunk:
            return
        out += chunk
read_until(b'New password')
os.write(fd, b'typed secret phrase\\r')
read_until(b'Repeat')
os.write(fd, b'typed secret phrase\\r')
read_until(b'Added admin user')
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
    const r = spawnSync('python3', ['-c', driver, process.execPath, CLI, cwd], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stdout).toContain('Password rules: at least 12 characters');
    expect(r.stdout).toContain('New password for carol:');
    expect(r.stdout).toContain('Added admin user "carol"');
    expect(r.stdout).not.toContain('typed secret');
    expect(r.status).toBe(0);
  });
});
