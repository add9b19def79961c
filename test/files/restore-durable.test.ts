/**
 * `restore files` flushes what it restored to disk before it reports success (issue 11, finding
 * 9): traced with strace, the real CLI calls syncfs (via `sync -f`) on the target, or fsync.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFilesEnv, put, type FilesEnv } from './env.js';
import { CLI } from '../helpers/cli.js';

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
});
