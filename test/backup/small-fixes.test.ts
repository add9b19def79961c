/**
 * The smaller findings of issue 11 (item 11), through the real CLI: a restore never replaces a
 * device or a link, restored databases are 0600, an identity others can read is warned about, a
 * command group without its subcommand is a usage error, exit codes follow the README's table.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useTestEnvs } from './env.js';

const newEnv = useTestEnvs();

describe('small fixes', () => {
  it('restore db refuses a FIFO/device or a link as the target, even with --force; restored files are 0600', async () => {
    const env = await newEnv({ rows: 200 });
    const c = ['--config', env.configFile];
    expect((await runCli([...c, 'backup', 'db'])).code).toBe(0);
    // A device-like target of our own (a FIFO): never a real /dev node, which a regression would destroy.
    const dev = path.join(env.dir, 'device');
    expect(spawnSync('mkfifo', [dev]).status).toBe(0);
    const r = await runCli([...c, 'restore', 'db', '--to', dev, '--force']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('[E_TARGET_NOT_FILE]');
    expect(lstatSync(dev).isFIFO()).toBe(true); // before: replaced by a regular file
    const link = path.join(env.dir, 'link.sqlite');
    symlinkSync(path.join(env.dir, 'elsewhere.sqlite'), link);
    expect((await runCli([...c, 'restore', 'db', '--to', link, '--force'])).code).toBe(2);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);

    const to = path.join(env.dir, 'restored', 'shop.sqlite');
    const ok = await runCli([...c, 'restore', 'db', '--to', to]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(statSync(to).mode & 0o777).toBe(0o600); // before: 0644
  });

  it('an identity file others can read is warned about', async () => {
    const env = await newEnv({ rows: 0 });
    chmodSync(env.identityFile, 0o644);
    const r = await runCli(['--config', env.configFile, 'status']);
    expect(r.stderr).toMatch(/backup\.identity: .* can be read by other users \(mode 644\).*chmod 600/);
    chmodSync(env.identityFile, 0o600);
    expect((await runCli(['--config', env.configFile, 'status'])).stderr).not.toMatch(/other users/);
  });

  it('a command group without its subcommand shows its help and exits 2', async () => {
    const r = await runCli(['backups']);
    expect(r.code).toBe(2); // before: 0, silently
    expect(r.stderr).toContain('list [options]');
    expect(r.stderr).toContain('[E_USAGE]');
    expect((await runCli(['backups', '--help'])).code).toBe(0);
  });

  it('a link in the restore target is bad input: exit 2 (E_RESTORE_UNSAFE_PATH)', async () => {
    const env = await newEnv({ rows: 0 });
    const shop = path.join(env.dir, 'shop', 'images');
    mkdirSync(path.join(shop, 'sub'), { recursive: true });
    writeFileSync(path.join(shop, 'sub', 'p.jpg'), 'img');
    const cfg = JSON.parse(readFileSync(env.configFile, 'utf8'));
    cfg.backup.files = [{ name: 'images', path: 'shop/images' }];
    writeFileSync(env.configFile, JSON.stringify(cfg));
    const c = ['--config', env.configFile];
    expect((await runCli([...c, 'backup', 'files'])).code).toBe(0);
    const to = path.join(env.dir, 'target');
    mkdirSync(path.join(to, 'images'), { recursive: true });
    symlinkSync(env.dir, path.join(to, 'images', 'sub'));
    const r = await runCli([...c, 'restore', 'files', '--to', to, '--force']);
    expect(r.stderr).toContain('[E_RESTORE_UNSAFE_PATH]');
    expect(r.code).toBe(2); // before: 1, which the README reserves for failed checks
  });
});
