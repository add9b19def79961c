/**
 * Deterministic synthetic restore-point histories for the golden retention tests: years of hourly
 * incrementals and daily fulls, stopped backups, DST zones (including Lord Howe's 30-minute shift), ISO
 * years with 53 weeks, and broken chains. Each golden file stores a hash of its scenario's points, so a change
 * here is caught rather than silently compared against stale expectations.
 */
import { createHash } from 'node:crypto';
import type { RetentionPoint, RetentionPolicy } from '../../src/backup/retention-policy.js';

export interface Scenario {
  name: string;
  description: string;
  timezone: string;
  policy: RetentionPolicy;
  points: () => RetentionPoint[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hourFormats = new Map<string, Intl.DateTimeFormat>();
function localHour(time: number, timezone: string): number {
  let format = hourFormats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', hourCycle: 'h23' });
    hourFormats.set(timezone, format);
  }
  return Number(format.format(time));
}

/**
 * The shop's real schedule: an incremental every hour on the hour (each building on the previous point),
 * a full at 03:00 local time instead of that hour's incremental, and a files point at 04:00 local.
 */
function hourlySchedule(fromIso: string, toIso: string, timezone: string): RetentionPoint[] {
  const points: RetentionPoint[] = [];
  let previous: string | undefined;
  for (let t = Date.parse(fromIso); t < Date.parse(toIso); t += HOUR) {
    const hour = localHour(t, timezone);
    const stamp = new Date(t).toISOString();
    if (hour === 3 || previous === undefined) {
      previous = `db-full-${stamp}`;
      points.push({ id: previous, time: t, kind: 'full', source: 'db' });
    } else {
      const id = `db-inc-${stamp}`;
      points.push({ id, time: t, kind: 'incremental', source: 'db', parent: previous });
      previous = id;
    }
    if (hour === 4)
      points.push({ id: `files-${stamp}`, time: t + 5 * 60_000, kind: 'files', source: 'files' });
  }
  return points;
}

/** Irregular history: random gaps, 0–3 fulls a day at random times, incrementals every 1–3 hours. */
function irregular(fromIso: string, toIso: string, seed: number, source = 'db'): RetentionPoint[] {
  const next = rng(seed);
  const points: RetentionPoint[] = [];
  let previous: string | undefined;
  let n = 0;
  for (let t = Date.parse(fromIso); t < Date.parse(toIso);) {
    t += Math.floor(HOUR * (0.5 + next() * 2.5));
    if (next() < 0.02) t += Math.floor(next() * 4 * DAY); // an outage
    const isFull = previous === undefined || next() < 0.12;
    const id = `${source}-${isFull ? 'full' : 'inc'}-${n++}`;
    points.push(
      isFull
        ? { id, time: t, kind: 'full', source }
        : { id, time: t, kind: 'incremental', source, parent: previous },
    );
    previous = id;
  }
  return points;
}

export const scenarios: Scenario[] = [
  {
    name: 'berlin-two-years-hourly',
    description: 'Two years of hourly incrementals, daily fulls at 03:00 and files at 04:00, Europe/Berlin',
    timezone: 'Europe/Berlin',
    policy: { daily: 30, weekly: 12, monthly: 12, pointInTimeDays: 7 },
    points: () => hourlySchedule('2024-11-01T00:00:00Z', '2026-11-28T09:30:00Z', 'Europe/Berlin'),
  },
  {
    name: 'new-york-stopped',
    description: 'Irregular backups that stopped months before the files did, America/New_York',
    timezone: 'America/New_York',
    policy: { daily: 7, weekly: 4, monthly: 6, pointInTimeDays: 3 },
    points: () => [
      ...irregular('2024-10-20T00:00:00Z', '2025-09-15T00:00:00Z', 11),
      ...hourlySchedule('2025-01-01T00:00:00Z', '2025-12-20T00:00:00Z', 'America/New_York').filter(
        (p) => p.source === 'files',
      ),
    ],
  },
  {
    name: 'lord-howe-iso-53-weeks',
    description: 'Fulls every ~20 h over 2020 (ISO year with 53 weeks), half-hour DST, Australia/Lord_Howe',
    timezone: 'Australia/Lord_Howe',
    policy: { daily: 10, weekly: 120, monthly: 30, pointInTimeDays: 2 },
    points: () => {
      const next = rng(5);
      const points: RetentionPoint[] = [];
      let t = Date.parse('2019-11-30T13:00:00Z');
      let n = 0;
      while (t < Date.parse('2022-02-01T00:00:00Z')) {
        t += Math.floor(20 * HOUR + (next() - 0.5) * 8 * HOUR);
        const full = `f${n++}`;
        points.push({ id: full, time: t, kind: 'full', source: 'db' });
        let parent = full;
        for (let k = 1; k <= 4; k++) {
          const id = `${full}-i${k}`;
          points.push({ id, time: t + k * 3 * HOUR, kind: 'incremental', source: 'db', parent });
          parent = id;
        }
      }
      return points;
    },
  },
  {
    name: 'kolkata-broken-chains',
    description:
      'Four months of hourly points with 3% of points lost and some parents unrecorded, Asia/Kolkata',
    timezone: 'Asia/Kolkata',
    policy: { daily: 5, weekly: 3, monthly: 2, pointInTimeDays: 10 },
    points: () => {
      const next = rng(99);
      return hourlySchedule('2025-06-01T00:00:00Z', '2025-10-01T00:00:00Z', 'Asia/Kolkata')
        .filter(() => next() >= 0.03)
        .map((p) => (p.kind === 'incremental' && next() < 0.01 ? { ...p, parent: undefined } : p));
    },
  },
];

/** A hash of a scenario's points, stored in its golden file. */
export function pointsHash(points: RetentionPoint[]): string {
  return createHash('sha256').update(JSON.stringify(points)).digest('hex');
}
