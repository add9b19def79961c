/**
 * `safetynet keygen` through the built CLI (run `npm run build` first; `npm test` does), and the
 * built package's SealPool with its compiled worker.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadIdentities, openBuffer, parseRecipients, sealBuffer } from '../../src/backup/crypto/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { sh } from './helpers.js';

const mode = (file: string) => statSync(file).mode & 0o777;

describe('safetynet keygen', () => {
  it('writes data/backup-identity.txt (0600, age-keygen format) and prints only the recipient on stdout', async () => {
    const cwd = tempDir();
    const r = await runCli(['keygen'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const recipient = r.stdout.trim();
    expect(recipient).toMatch(/^age1[0-9a-z]{58}$/);
    const file = path.join(cwd, 'data', 'backup-identity.txt');
    expect(mode(file)).toBe(0o600);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toMatch(/^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lines[1]).toBe(`# public key: ${recipient}`);
    expect(lines[2]).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    // The reference tool agrees, and nothing printed the secret.
    expect(sh(`age-keygen -y '${file}'`).toString().trim()).toBe(recipient);
    expect(r.stdout + r.stderr).not.toContain(lines[2]!.slice(16));
    expect(r.stderr).toContain('backup.recipients');
    expect(r.stderr).toMatch(/off the backup storage/i);
    // And it opens what is sealed to the recipient.
    const ids = await loadIdentities(file);
    const plain = Buffer.from('restore me');
    expect(openBuffer(sealBuffer(plain, parseRecipients([recipient])), ids).equals(plain)).toBe(true);
  });

  it('refuses to overwrite an identity without --force; --force replaces it atomically, still 0600', async () => {
    const cwd = tempDir();
    const out = path.join(cwd, 'keys', 'id.txt');
    const first = await runCli(['keygen', '--out', out], { cwd });
    expect(first.code, first.stderr).toBe(0);
    const before = readFileSync(out, 'utf8');

    const again = await runCli(['keygen', '--out', out], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('E_IDENTITY_EXISTS');
    expect(again.stderr).toContain('--force');
    expect(readFileSync(out, 'utf8')).toBe(before);

    const forced = await runCli(['keygen', '--out', out, '--force', '--json'], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    const json = JSON.parse(forced.stdout) as { recipient: string; identityFile: string };
    expect(json.identityFile).toBe(out);
    expect(json.recipient).not.toBe(first.stdout.trim());
    expect(readFileSync(out, 'utf8')).toContain(`# public key: ${json.recipient}`);
    expect(mode(out)).toBe(0o600);
    expect(forced.stdout).not.toContain('AGE-SECRET-KEY');
  });

  it('defaults to backup.identity from the config, and refuses a path inside the backup repository', async () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, 'safetynet.config.json'),
      JSON.stringify({ backup: { identity: 'secrets/backup.key', repository: 'repo' } }),
    );
    const r = await runCli(['keygen', '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ identityFile: path.join(cwd, 'secrets', 'backup.key') });
    expect(mode(path.join(cwd, 'secrets', 'backup.key'))).toBe(0o600);

    mkdirSync(path.join(cwd, 'repo'));
    const inside = await runCli(['keygen', '--out', 'repo/k.txt'], { cwd });
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain('E_IDENTITY_IN_REPOSITORY');
  });
});

describe('the built package', () => {
  it('SealPool runs its compiled worker (dist), without tsx', () => {
    const dist = fileURLToPath(new URL('../../dist/backup/crypto/index.js', import.meta.url));
    const script = path.join(tempDir(), 'pool.mjs');
    writeFileSync(
      script,
      `import { SealPool, generateIdentity, parseRecipients, parseIdentity } from ${JSON.stringify(pathToFileURL(dist).href)};
       const k = generateIdentity();
       const p = new SealPool({ recipients: parseRecipients([k.recipient]), identities: [parseIdentity(k.identity)], workers: 2 });
       const plain = Buffer.alloc(3_000_000, 'abc');
       const s = await p.seal(plain);
       const o = await p.open(s.sealed);
       await p.close();
       console.log(o.plain.equals(plain) && o.plainSha256 === s.plainSha256 ? 'ok' : 'mismatch');`,
    );
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok');
  });
});
