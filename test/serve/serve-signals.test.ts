/**
 * A SIGTERM that arrives while serve is still starting (found by the fault campaign) stops it
 * cleanly once it is up — exit 0, lock released — instead of killing it halfway.
 */
import { spawn } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestEnvs } from '../backup/env.js';
import { CLI } from '../helpers/cli.js';

const newEnv = useTestEnvs();

describe('serve and early signals', () => {
  it('SIGTERM during start-up: serve stops cleanly (exit 0) and leaves no lock', async () => {
    const env = await newEnv({ rows: 100 });
    const child = spawn(process.execPath, [CLI, '--config', env.configFile, 'serve', '--no-panel'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    // The config warnings are printed before serve starts: signal as soon as the first one shows.
    const first = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        resolve();
      }),
    );
    child.stdout.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    await first;
    child.kill('SIGTERM');
    const r = await exited;
    expect(r, err).toEqual({ code: 0, signal: null }); // before: killed by the signal mid-start
    expect(err).toMatch(/SIGTERM received while starting, stopping/);
    const inst = path.join(env.dir, 'data/backups/instance');
    expect(existsSync(inst) ? readdirSync(inst) : []).toEqual([]);
  });
});
