/**
 * The short fault campaign (the full one: `npm run fault-campaign`, figures in docs/RELIABILITY.md):
 * one SIGKILL trial of a logging process, a files backup and serve mid-job, and one S3 backup
 * through the proxy failing 20% of requests; one trial each of the fast disk scenarios (restore files
 * onto a nearly full tmpfs, the log store on a full tmpfs, the store file deleted or replaced while
 * logging), and one trial of the wall clock stepped an hour back under a running serve (libfaketime).
 * Every trial must pass with no data lost and no manual step.
 */
import { describe, expect, it } from 'vitest';
import { runCampaign } from '../scripts/fault-campaign.js';

const NAMES = [
  'logging',
  'files-backup',
  'serve',
  's3-backup',
  'disk-full-db-restore',
  'disk-full-files-restore',
  'disk-full-log',
  'log-store-replaced',
  'clock-step',
];

describe('fault campaign (short)', () => {
  it('SIGKILL and S3 faults lose nothing and need no manual step', async () => {
    const results = await runCampaign({
      trials: 1,
      s3Trials: 1,
      seed: 20261204,
      only: [...NAMES],
    });
    expect(results.map((r) => r.name)).toEqual(NAMES);
    for (const r of results) {
      expect(r.failures.join('\n'), r.name).toBe('');
      expect(r).toMatchObject({ passed: r.trials, dataLost: 0, manualSteps: 0 });
    }
  }, 240_000);
});
