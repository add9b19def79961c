/**
 * `restore files` flushes what it restored to disk before it reports success (issue 11, finding
 * 9): traced with strace, the real CLI calls syncfs (via `sync -f`) on the target, or fsync.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFilesEnv, put, type FilesEnv } from './env.js';
import { CLI } from '../helpers/cli.js';
import { EarlyFlush, makeTreeDurable } from '../../src/backup/sources/files/durable-tree.js';

let env: FilesEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const hasStrace = spawnSync('strace', ['-V']).status === 0;

describe('restore files is durable', () => {
  it.runIf(hasStrace)('syncs the restored files before exiting 0', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'invoices/2026/INV-000042.pdf'), '%PDF-1.4 forty-two');
    const b = spawnSync(process.execPath, [CLI, '--config', env.configFile, 'backup', 'files'], {
      cwd: env.dir,
    });
    expect(b.status, b.stderr.toString()).toBe(0);
    const to = path.join(env.dir, 'restored');
    const trace = path.join(env.dir, 'trace.txt');
    const r = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-e',
        'trace=syncfs,fsync,fdatasync,sync',
        '-o',
        trace,
        process.execPath,
        CLI,
        '--config',
        env.configFile,
        'restore',
        'files',
        '--to',
        to,
      ],
      { cwd: env.dir, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(path.join(to, 'invoices/2026/INV-000042.pdf'), 'utf8')).toBe('%PDF-1.4 forty-two');
    // Before the fix: no sync call of any kind after the files were written.
    // (The log store fsyncs too, so the trace looks for syncfs, which only the restore calls.)
    expect(readFileSync(trace, 'utf8')).toMatch(/\bsyncfs\(/);
  });

  it('a failed early flush fails the restore: a later flush would not see the write-back error again', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'sn-flush-'));
    // Flushes in the background after 10 bytes; here it cannot open its target, as a disk that
    // reports EIO makes `sync -f` fail.
    const early = new EarlyFlush(path.join(root, 'gone'), 10);
    early.wrote(5);
    expect(await early.settle()).toBeUndefined(); // below the threshold: no flush yet
    early.wrote(5);
    expect(await early.settle()).toMatch(/gone/);
    await expect(makeTreeDurable(root, [], early)).rejects.toMatchObject({ code: 'E_RESTORE_SYNC' });
    // Without the early failure the same call succeeds.
    await expect(makeTreeDurable(root, [], new EarlyFlush(root, 10))).resolves.toBeUndefined();
  });

  it.runIf(hasStrace)('starts flushing while it still writes, once enough was written', () => {
    const code = `
      import { EarlyFlush } from ${JSON.stringify(path.resolve('src/backup/sources/files/durable-tree.ts'))};
      const early = new EarlyFlush(process.argv[1], 1000);
      early.wrote(400); early.wrote(400); // 800: nothing yet
      await new Promise((r) => setTimeout(r, 200));
      console.log('BEFORE');
      early.wrote(400); // past 1000: a flush starts
      await early.settle();
    `;
    const dir = mkdtempSync(path.join(tmpdir(), 'sn-flush-'));
    const trace = path.join(dir, 'trace.txt');
    const r = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-e',
        'trace=syncfs,write',
        '-o',
        trace,
        process.execPath,
        '--import',
        'tsx',
        '-e',
        code,
        dir,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const before = lines.findIndex((l) => l.includes('BEFORE'));
    const sync = lines.findIndex((l) => /\bsyncfs\(/.test(l));
    expect(before).toBeGreaterThanOrEqual(0);
    expect(sync).toBeGreaterThan(before);
    expect(lines.filter((l) => /\bsyncfs\(/.test(l))).toHaveLength(1);
  });
});
