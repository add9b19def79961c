/**
 * The rotating read-verify (issue 11, finding 10): over `readVerifySlices` runs every stored
 * object is downloaded and checked once; a corrupted object in an old point is found by the run
 * whose slice holds it, recorded in the history, and reported by `status`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupDatabase } from '../../src/backup/database.js';
import { runReadVerify, readVerifyCoverage } from '../../src/backup/read-verify.js';
import { sliceOf } from '../../src/backup/verify.js';
import { buildStatus } from '../../src/backup/status.js';
import { scheduledJobs } from '../../src/server/jobs.js';
import { ManualClock } from '../../src/clock.js';
import { useTestEnvs } from './env.js';

const newEnv = useTestEnvs();

describe('rotating read-verify', () => {
  it('reads every object once over the slices and finds a corrupted old object', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 3));
    const env = await newEnv({ rows: 3000, clock, backup: { readVerifySlices: 4 } });
    await backupDatabase(env.deps, { mode: 'full' });
    clock.advance(86_400_000);
    await backupDatabase(env.deps, { mode: 'full' });
    const points = await env.deps.repo.listPoints();
    const keys = points.flatMap((p) => [...p.objects, p.manifest].map((o) => o.key));
    // Damage one object of the OLDEST point (the newest would be caught by the restore test).
    const victim = points[0]!.objects[0]!.key;
    const file = path.join(env.deps.repo.storage.localPath!, victim);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(file, bytes);

    const runs = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(86_400_000);
      runs.push(await runReadVerify(env.deps, { trigger: 'test' }));
    }
    expect(runs.map((r) => r.slice.index)).toEqual([0, 1, 2, 3]);
    // Together the slices read every object exactly once.
    expect(runs.reduce((n, r) => n + r.objects, 0)).toBe(new Set(keys).size);
    const bad = runs.filter((r) => !r.ok);
    expect(bad.map((r) => r.slice.index)).toEqual([sliceOf(victim, 4)]);
    expect(bad[0]!.problems.map((p) => p.key)).toEqual([victim]);

    const history = await env.deps.repo.listHistory('read-verify');
    const cov = readVerifyCoverage(history, 4);
    expect(cov).toMatchObject({ slicesDone: 3, count: 4, failedSlices: [sliceOf(victim, 4)] });
    const status = await buildStatus(env.deps);
    expect(status.warnings.some((w) => w.includes('read-verify found damaged objects'))).toBe(true);
    expect(status.jobs.map((j) => j.name)).toContain('read-verify');

    // The next run starts the next pass at slice 0.
    expect((await runReadVerify(env.deps)).slice.index).toBe(0);
  });

  it('serve schedules it daily by default', async () => {
    const env = await newEnv({ rows: 0 });
    const job = scheduledJobs(env.deps, env.deps.logger).find((j) => j.name === 'read-verify');
    expect(job?.cron).toBe('30 4 * * *');
    expect(env.config.backup.readVerifySlices).toBe(30);
  });
});
