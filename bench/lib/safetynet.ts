/**
 * safetynet as benchmarks run it: the built CLI (dist/) in a child process, like the peer's binary,
 * so start-up is counted on both sides.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { takeCpu, withCpu, type ChildCpu } from './restic.js';

export const SAFETYNET_CLI = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'dist',
  'cli',
  'main.js',
);

export interface SafetynetRun {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
  /** CPU time of the whole process (every thread) and its minor page faults, when measurable. */
  cpu?: ChildCpu;
}

/** Runs `safetynet --config CONFIG ...args` and times it (wall clock). */
export function runSafetynet(config: string, args: string[]): SafetynetRun {
  if (!existsSync(SAFETYNET_CLI)) throw new Error('build safetynet first: npm run build');
  const t0 = process.hrtime.bigint();
  const [cmd, argv] = withCpu(process.execPath, [SAFETYNET_CLI, '--config', config, ...args]);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const measured = takeCpu(r.stderr);
  return {
    ms,
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: measured.stderr,
    ...(measured.cpu ? { cpu: measured.cpu } : {}),
  };
}

/** Runs a `--json` command that must succeed; returns its time and its last JSON line. */
export function runSafetynetJson(
  config: string,
  args: string[],
): { ms: number; json: Record<string, unknown>; cpu?: ChildCpu } {
  const r = runSafetynet(config, [...args, '--json']);
  if (r.code !== 0) throw new Error(`safetynet ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
  return {
    ms: r.ms,
    json: JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>,
    ...(r.cpu ? { cpu: r.cpu } : {}),
  };
}
