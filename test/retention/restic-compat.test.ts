/**
 * restic compatibility: a real restic repository holds snapshots at chosen wall-clock times (year end, ISO
 * week edges, both DST switches, two points on one day); `restic forget --dry-run --json` must keep exactly
 * the snapshots planRetention keeps for the same full points, for several policies.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionPoint } from '../../src/backup/retention-policy.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const TIMEZONE = 'Europe/Berlin';
// Local wall-clock times in Berlin (restic reads --time in the TZ of its environment).
const TIMES = [
  '2024-12-28 10:00:00', // Sat, 2024-W52
  '2024-12-29 23:30:00', // Sun, 2024-W52
  '2024-12-30 09:00:00', // Mon, 2025-W01 (ISO week-year ahead of the calendar year)
  '2024-12-31 18:00:00',
  '2025-01-01 00:30:00',
  '2025-01-05 12:00:00', // Sun, 2025-W01
  '2025-01-06 08:00:00', // Mon, 2025-W02
  '2025-03-30 01:30:00', // CET, spring-forward day
  '2025-03-30 23:30:00', // CEST, same day
  '2025-03-31 00:10:00',
  '2025-10-26 00:30:00', // CEST, fall-back day
  '2025-10-26 23:30:00', // CET, same day, 24 h later
  '2025-10-27 03:00:00',
];
const POLICIES = [
  { daily: 3, weekly: 2, monthly: 2 },
  { daily: 5, weekly: 4, monthly: 3 },
  { daily: 1, weekly: 6, monthly: 0 },
  { daily: 0, weekly: 0, monthly: 4 },
  { daily: 20, weekly: 0, monthly: 0 },
];

interface ResticSnapshot {
  id: string;
  time: string;
}

describe('planRetention matches restic forget', () => {
  it('keeps the same snapshots as restic 0.14 for several policies', async () => {
    const root = tempDir('safetynet-restic-');
    const repo = path.join(root, 'repo');
    const data = path.join(root, 'data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'shop.txt'), 'tiny\n');
    const env = { ...process.env, RESTIC_PASSWORD: 'test-only', TZ: TIMEZONE };
    const restic = async (...args: string[]): Promise<string> =>
      (await run('restic', ['--repo', repo, '--no-cache', '--quiet', ...args], { env, encoding: 'utf8' }))
        .stdout;
    await restic('init', '--repository-version', '2');
    // Each restic command spends ~0.5 s in its key derivation; backups take shared locks and forget
    // --dry-run needs none, so running them side by side halves the test's time on two cores.
    await Promise.all(TIMES.map((time) => restic('backup', '--host', 'shop', '--time', time, data)));

    const snapshots = JSON.parse(await restic('snapshots', '--json')) as ResticSnapshot[];
    expect(snapshots).toHaveLength(TIMES.length);
    const points: RetentionPoint[] = snapshots.map((s) => ({
      id: s.id,
      time: Date.parse(s.time),
      kind: 'full',
      source: 'db',
    }));

    const answers = await Promise.all(
      POLICIES.map((policy) =>
        restic(
          '--no-lock',
          'forget',
          '--dry-run',
          '--json',
          '--keep-daily',
          String(policy.daily),
          '--keep-weekly',
          String(policy.weekly),
          '--keep-monthly',
          String(policy.monthly),
        ),
      ),
    );
    POLICIES.forEach((policy, i) => {
      const groups = JSON.parse(answers[i]!) as Array<{ keep: ResticSnapshot[] | null }>;
      expect(groups).toHaveLength(1);
      const resticKeeps = (groups[0]!.keep ?? []).map((s) => s.id).sort();
      const ours = planRetention(points, { ...policy, pointInTimeDays: 0 }, { timezone: TIMEZONE })
        .filter((d) => d.keep)
        .map((d) => d.id)
        .sort();
      expect(ours, `policy ${JSON.stringify(policy)}`).toEqual(resticKeeps);
      expect(resticKeeps.length).toBeLessThan(TIMES.length); // the policy must have removed something
    });
  });
});
