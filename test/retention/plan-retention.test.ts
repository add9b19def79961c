/**
 * Small hand-computed retention cases: each expectation below was worked out on paper from the calendar
 * (weekdays, ISO weeks, DST dates), not by running either implementation.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  planRetention,
  type RetentionPoint,
  type RetentionPolicy,
} from '../../src/backup/retention-policy.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const none: RetentionPolicy = { daily: 0, weekly: 0, monthly: 0, pointInTimeDays: 0 };

function full(id: string, iso: string, source = 'db'): RetentionPoint {
  return { id, time: Date.parse(iso), kind: 'full', source };
}
function inc(id: string, iso: string, parent?: string, source = 'db'): RetentionPoint {
  return {
    id,
    time: Date.parse(iso),
    kind: 'incremental',
    source,
    ...(parent === undefined ? {} : { parent }),
  };
}

/** id -> reasons of the kept points only. */
function kept(points: RetentionPoint[], policy: RetentionPolicy, timezone = 'UTC'): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const d of planRetention(points, { ...none, ...policy }, { timezone })) {
    if (d.keep) out[d.id] = [...d.reasons].sort();
  }
  return out;
}

describe('planRetention: calendar tiers', () => {
  it('keeps the newest point of each of the last N days', () => {
    const points = [
      full('a', '2026-11-23T01:00:00Z'),
      full('b', '2026-11-23T22:00:00Z'),
      full('c', '2026-11-24T05:00:00Z'),
      full('d', '2026-11-24T06:00:00Z'),
      full('e', '2026-11-25T10:00:00Z'),
    ];
    expect(kept(points, { ...none, daily: 2 })).toEqual({
      e: ['daily 2026-11-25', 'newest point'],
      d: ['daily 2026-11-24'],
    });
    // b (newest of the 23rd) joins once a third day is allowed; a and c never do.
    expect(Object.keys(kept(points, { ...none, daily: 3 })).sort()).toEqual(['b', 'd', 'e']);
  });

  it('numbers ISO weeks across a year end (2024-12-30 is 2025-W01)', () => {
    const points = [
      full('sat', '2024-12-28T12:00:00Z'), // 2024-W52
      full('sun', '2024-12-29T12:00:00Z'), // 2024-W52
      full('mon', '2024-12-30T12:00:00Z'), // 2025-W01
      full('sun2', '2025-01-05T12:00:00Z'), // 2025-W01
      full('mon2', '2025-01-06T12:00:00Z'), // 2025-W02
    ];
    expect(kept(points, { ...none, weekly: 3 })).toEqual({
      mon2: ['newest point', 'weekly 2025-W02'],
      sun2: ['weekly 2025-W01'],
      sun: ['weekly 2024-W52'],
    });
  });

  it('knows 53-week years (2020, 2026) and dates in January that belong to them', () => {
    const points = [
      full('a', '2020-12-31T12:00:00Z'), // Thursday: 2020-W53
      full('b', '2021-01-03T12:00:00Z'), // Sunday: still 2020-W53
      full('c', '2021-01-04T12:00:00Z'), // Monday: 2021-W01
      full('d', '2026-12-28T12:00:00Z'), // Monday: 2026-W53
      full('e', '2027-01-03T12:00:00Z'), // Sunday: 2026-W53
      full('f', '2027-01-04T12:00:00Z'), // Monday: 2027-W01
    ];
    expect(kept(points, { ...none, weekly: 10 })).toEqual({
      f: ['newest point', 'weekly 2027-W01'],
      e: ['weekly 2026-W53'],
      c: ['weekly 2021-W01'],
      b: ['weekly 2020-W53'],
    });
  });

  it('treats a 23-hour spring-forward day as one day (Europe/Berlin, 2025-03-30)', () => {
    const points = [
      full('early', '2025-03-29T23:30:00Z'), // 00:30 CET on the 30th
      full('late', '2025-03-30T21:30:00Z'), // 23:30 CEST on the 30th
      full('next', '2025-03-30T22:30:00Z'), // 00:30 CEST on the 31st
    ];
    expect(kept(points, { ...none, daily: 5 }, 'Europe/Berlin')).toEqual({
      next: ['daily 2025-03-31', 'newest point'],
      late: ['daily 2025-03-30'],
    });
  });

  it('treats a 25-hour fall-back day as one day even for points 24 h apart (2025-10-26)', () => {
    const points = [
      full('early', '2025-10-25T22:30:00Z'), // 00:30 CEST on the 26th
      full('late', '2025-10-26T22:30:00Z'), // 23:30 CET on the 26th, exactly 24 h later
      full('next', '2025-10-26T23:30:00Z'), // 00:30 CET on the 27th
    ];
    expect(kept(points, { ...none, daily: 5 }, 'Europe/Berlin')).toEqual({
      next: ['daily 2025-10-27', 'newest point'],
      late: ['daily 2025-10-26'],
    });
    // The same instants in UTC fall on the 25th, 26th, 26th: the bucket follows the time zone.
    expect(kept(points, { ...none, daily: 5 }, 'UTC')).toEqual({
      next: ['daily 2025-10-26', 'newest point'],
      early: ['daily 2025-10-25'],
    });
  });

  it('puts a month boundary where the time zone puts it', () => {
    const points = [
      full('mid-june', '2025-06-15T12:00:00Z'),
      full('edge', '2025-06-30T23:30:00Z'), // 1 July 01:30 in Berlin, still June in UTC
    ];
    expect(kept(points, { ...none, monthly: 2 }, 'Europe/Berlin')).toEqual({
      edge: ['monthly 2025-07', 'newest point'],
      'mid-june': ['monthly 2025-06'],
    });
    expect(kept(points, { ...none, monthly: 2 }, 'UTC')).toEqual({
      edge: ['monthly 2025-06', 'newest point'],
    });
  });

  it('ORs the tiers: one point can carry every reason', () => {
    const points = [full('only', '2026-11-25T03:00:00Z')];
    expect(kept(points, { daily: 1, weekly: 1, monthly: 1, pointInTimeDays: 7 })).toEqual({
      only: [
        'daily 2026-11-25',
        'monthly 2026-11',
        'newest point',
        'point-in-time window',
        'weekly 2026-W48',
      ],
    });
  });

  it('never lets an incremental fill a calendar bucket', () => {
    const points = [full('f', '2026-11-24T03:00:00Z'), inc('i', '2026-11-25T03:00:00Z', 'f')];
    expect(kept(points, { ...none, daily: 1 })).toEqual({
      i: ['newest point'],
      f: ['daily 2026-11-24', 'needed by i'],
    });
  });
});

describe('planRetention: point-in-time window and chains', () => {
  it('measures the window from the newest point, so stopped backups never expire', () => {
    const points = [
      full('F', '2025-01-01T00:00:00Z'),
      inc('I1', '2025-01-01T01:00:00Z', 'F'),
      inc('I2', '2025-01-01T02:00:00Z', 'I1'),
      full('G', '2025-03-01T00:00:00Z'),
      inc('J1', '2025-03-01T01:00:00Z', 'G'),
      inc('J2', '2025-03-01T02:00:00Z', 'J1'),
    ];
    const decisions = planRetention(points, { ...none, pointInTimeDays: 1 }, { timezone: 'UTC' });
    expect(decisions.map((d) => [d.id, d.keep])).toEqual([
      ['F', false],
      ['I1', false],
      ['I2', false],
      ['G', true],
      ['J1', true],
      ['J2', true],
    ]);
    expect(decisions[1]!.reasons).toEqual([
      'incremental before the point-in-time window (from 2025-02-28T02:00:00.000Z), needed by no kept point',
    ]);
    expect(decisions[0]!.reasons[0]).toMatch(/^not the newest point of a kept day, week or month/);
    expect(decisions[3]!.reasons.sort()).toEqual(['needed by J1', 'point-in-time window']);
  });

  it('includes a point exactly at the window edge and keeps its chain back past the edge', () => {
    const points = [
      full('F', '2025-05-01T00:00:00Z'),
      inc('I1', '2025-05-01T12:00:00Z', 'F'),
      inc('I2', '2025-05-02T11:59:59.999Z', 'I1'), // just outside
      inc('I3', '2025-05-02T12:00:00Z', 'I2'), // exactly at newest - 1 day
      inc('I4', '2025-05-03T12:00:00Z', 'I3'),
    ];
    expect(kept(points, { ...none, pointInTimeDays: 1 })).toEqual({
      I4: ['newest point', 'point-in-time window'],
      I3: ['needed by I4', 'point-in-time window'],
      I2: ['needed by I3'],
      I1: ['needed by I2'],
      F: ['needed by I1'],
    });
  });

  it('keeps the whole chain of a newest incremental even with no window', () => {
    const points = [
      full('F', '2025-01-01T00:00:00Z'),
      inc('I1', '2025-01-01T01:00:00Z', 'F'),
      inc('I2', '2025-01-01T02:00:00Z', 'I1'),
    ];
    expect(kept(points, none)).toEqual({ I2: ['newest point'], I1: ['needed by I2'], F: ['needed by I1'] });
  });

  it('removes incrementals with a broken chain only outside the window, and never crashes', () => {
    const t0 = Date.parse('2025-07-10T00:00:00Z');
    const points: RetentionPoint[] = [
      { id: 'old', time: t0 - 10 * DAY, kind: 'incremental', source: 'db', parent: 'lost' },
      { id: 'F', time: t0, kind: 'full', source: 'db' },
      { id: 'X', time: t0 + HOUR, kind: 'incremental', source: 'db', parent: 'gone' },
      { id: 'orphan', time: t0 + 90 * 60_000, kind: 'incremental', source: 'db' },
      { id: 'Y', time: t0 + 2 * HOUR, kind: 'incremental', source: 'db', parent: 'X' },
    ];
    expect(kept(points, { ...none, pointInTimeDays: 1 })).toEqual({
      F: ['point-in-time window'],
      X: ['chain broken: parent gone missing', 'needed by Y', 'point-in-time window'],
      orphan: ['chain broken: no parent recorded', 'point-in-time window'],
      Y: ['newest point', 'point-in-time window'],
    });
  });

  it('survives parent cycles and self-references', () => {
    const points = [
      inc('A', '2025-01-01T01:00:00Z', 'B'),
      inc('B', '2025-01-01T02:00:00Z', 'A'),
      inc('C', '2025-01-01T03:00:00Z', 'C'),
    ];
    expect(kept(points, { ...none, pointInTimeDays: 1 })).toEqual({
      A: ['needed by B', 'point-in-time window'],
      B: ['needed by A', 'point-in-time window'],
      C: ['newest point', 'point-in-time window'],
    });
  });
});

describe('planRetention: groups, order and bad input', () => {
  it('decides each source on its own and keeps each newest point', () => {
    const points = [
      full('db-old', '2025-01-01T03:00:00Z'),
      full('files-old', '2025-01-01T04:00:00Z', 'files'),
      full('db-new', '2025-03-01T03:00:00Z'),
      full('files-new', '2025-01-02T04:00:00Z', 'files'),
    ].map((p) => (p.source === 'files' ? { ...p, kind: 'files' as const } : p));
    expect(kept(points, { ...none, daily: 1 })).toEqual({
      'db-new': ['daily 2025-03-01', 'newest point'],
      'files-new': ['daily 2025-01-02', 'newest point'],
    });
  });

  it('answers once per input point, in input order, for any input order', () => {
    const points = [
      inc('i2', '2025-01-01T02:00:00Z', 'i1'),
      full('f', '2025-01-01T00:00:00Z'),
      inc('i1', '2025-01-01T01:00:00Z', 'f'),
    ];
    const decisions = planRetention(points, none, { timezone: 'UTC' });
    expect(decisions.map((d) => d.id)).toEqual(['i2', 'f', 'i1']);
    expect(decisions.every((d) => d.keep)).toBe(true);
    expect(planRetention([], none, { timezone: 'UTC' })).toEqual([]);
  });

  it('keeps points it cannot reason about, and still decides the rest', () => {
    const points = [
      { id: 'nan', time: Number.NaN, kind: 'full', source: 'db' },
      { id: 'huge', time: 1e300, kind: 'full', source: 'db' },
      { id: 'odd', time: Date.parse('2020-01-01T00:00:00Z'), kind: 'snapshot', source: 'db' },
      { id: 'old', time: Date.parse('2020-01-01T00:00:00Z'), kind: 'full', source: 'db' },
      { id: 'new', time: Date.parse('2021-01-01T00:00:00Z'), kind: 'full', source: 'db' },
    ] as unknown as RetentionPoint[];
    const decisions = planRetention(points, none, { timezone: 'UTC' });
    expect(decisions.map((d) => d.keep)).toEqual([true, true, true, false, true]);
    expect(decisions[0]!.reasons).toEqual(['invalid time: kept until it is fixed']);
    expect(decisions[2]!.reasons).toEqual(['unknown kind "snapshot": kept to be safe']);
  });

  it('rejects an unusable policy or time zone with an error naming the field', () => {
    const points = [full('a', '2025-01-01T00:00:00Z')];
    for (const bad of [{ daily: -1 }, { weekly: 1.5 }, { monthly: Number.NaN }, { pointInTimeDays: -2 }]) {
      const policy = { ...none, ...bad } as RetentionPolicy;
      const field = Object.keys(bad)[0]!;
      expect(() => planRetention(points, policy, { timezone: 'UTC' })).toThrowError(
        expect.objectContaining({
          code: 'E_CONFIG_VALUE',
          message: expect.stringContaining(`retention.${field}`),
        }),
      );
    }
    let caught: unknown;
    try {
      planRetention(points, none, { timezone: 'Mars/Olympus_Mons' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toContain('backup.timezone');
  });
});
