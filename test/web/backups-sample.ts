/**
 * A hand-written BackupsStatus for view and wiring tests (the real provider is tested in
 * test/server/). `evil` goes into every text field the page shows, to prove it is escaped.
 */
import type { BackupsStatus } from '../../src/web/backups.js';

export function sampleBackupsStatus(evil = 'text', overrides: Partial<BackupsStatus> = {}): BackupsStatus {
  const run = {
    startedAt: '2026-11-26T11:00:00.000Z',
    outcome: 'success',
    reason: 'schedule',
    durationMs: 1200,
    summary: `summary ${evil}`,
  };
  const point = {
    id: '20261126T110000000Z-aaaaaa',
    time: '2026-11-26T11:00:00.000Z',
    kind: 'incremental',
    sizeBytes: 2_000_000,
    storedBytes: 40_000,
  };
  return {
    generatedAt: '2026-11-26T12:00:00.000Z',
    timezone: 'Europe/Berlin',
    healthy: false,
    summary: `summary line ${evil}`,
    warnings: [`warning ${evil}`],
    rpo: { objectiveMs: 3_600_000, exposureMs: 5_400_000, ok: false },
    rtoObjectiveMs: 4 * 3_600_000,
    repository: {
      url: `file:///repo/${evil}`,
      reachable: true,
      storedBytes: 12_345_678,
      counts: { full: 1, incremental: 1, files: 0, total: 2 },
    },
    last: [
      {
        kind: 'full',
        job: 'full',
        point: { ...point, id: '20261126T030000000Z-bbbbbb', kind: 'full' },
        lastRun: run,
      },
      {
        kind: 'incremental',
        job: 'incremental',
        point,
        lastRun: { ...run, outcome: 'failed', error: `error ${evil}` },
      },
      { kind: 'files', job: 'files', point: null, lastRun: null },
    ],
    jobs: [
      {
        name: 'full',
        cron: '0 3 * * *',
        nextRun: '2026-11-27T02:00:00.000Z',
        nextReason: 'schedule',
        running: false,
        lastRun: run,
        consecutiveFailures: 0,
      },
      {
        name: 'incremental',
        cron: '0 * * * *',
        nextRun: '2026-11-26T13:00:00.000Z',
        nextReason: 'schedule',
        running: false,
        lastRun: { ...run, outcome: 'failed', error: `job error ${evil}` },
        consecutiveFailures: 3,
      },
    ],
    activity: { running: null, queued: [], requests: [] },
    points: {
      items: [point, { ...point, id: '20261126T030000000Z-bbbbbb', kind: 'full' }],
      total: 2,
      query: {},
      olderCursor: null,
    },
    restoreTests: [
      {
        id: 'c0ffee01',
        time: '2026-11-26T04:00:00.000Z',
        ok: false,
        durationMs: 2500,
        point: { id: point.id, time: point.time, kind: 'incremental' },
        filesPoint: null,
        checks: [
          { name: 'objects decrypt and match the manifest', ok: true, detail: '2 point(s)' },
          { name: `check ${evil}`, ok: false, detail: `detail ${evil}` },
        ],
        failed: `check ${evil}`,
      },
    ],
    restoreTestsTotal: 1,
    drills: [
      {
        id: 'd0d0d0d0',
        time: '2026-11-20T10:00:00.000Z',
        ok: true,
        rtoMs: 3200,
        rpoMs: 600_000,
        objectives: { rtoMs: 4 * 3_600_000, rpoMs: 3_600_000 },
        rtoPass: true,
        rpoPass: true,
        steps: [{ name: `step ${evil}`, ok: true, detail: `step detail ${evil}`, ms: 800 }],
      },
    ],
    drillsTotal: 1,
    ...overrides,
  };
}
