/**
 * A slow, obviously-correct reference for planRetention, written differently on purpose so that the two
 * cannot share a bug: buckets come from formatted date strings (toLocaleDateString per point), ISO weeks are
 * found by walking day by day, tiers are "the N most recent distinct buckets" instead of a single newest-first
 * walk, and chains are closed by repeating a pass until nothing changes. It produces the golden files.
 */
import type { RetentionPoint, RetentionPolicy } from '../../src/backup/retention-policy.js';

const DAY = 86_400_000;

/** "YYYY-MM-DD" of an instant in a time zone, straight from Intl's formatter. */
export function referenceDay(time: number, timezone: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Date(time).toLocaleDateString('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
}

/** "YYYY-Www" found by brute force: walk back to Monday, then count weeks back to the Thursday's year start. */
export function referenceWeek(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  let cursor = new Date(Date.UTC(y, m - 1, d, 12));
  while (cursor.getUTCDay() !== 1) cursor = new Date(cursor.getTime() - DAY);
  const thursday = new Date(cursor.getTime() + 3 * DAY);
  const weekYear = thursday.getUTCFullYear();
  let week = 1;
  let probe = new Date(thursday.getTime() - 7 * DAY);
  while (probe.getUTCFullYear() === weekYear) {
    week++;
    probe = new Date(probe.getTime() - 7 * DAY);
  }
  return `${weekYear}-W${String(week).padStart(2, '0')}`;
}

/** Kept point ids, each with its sorted reasons. */
export type KeptMap = Record<string, string[]>;

export function referenceRetention(
  points: RetentionPoint[],
  policy: RetentionPolicy,
  timezone: string,
): KeptMap {
  const reasons = new Map<number, Set<string>>();
  const add = (i: number, r: string): void => {
    if (!reasons.has(i)) reasons.set(i, new Set());
    reasons.get(i)!.add(r);
  };
  const sources = [...new Set(points.map((p) => p.source))];
  for (const source of sources) {
    const group = points.map((p, i) => ({ p, i })).filter((x) => x.p.source === source);
    // newer = larger time, then later in the input
    const newer = (a: { p: RetentionPoint; i: number }, b: { p: RetentionPoint; i: number }): boolean =>
      a.p.time > b.p.time || (a.p.time === b.p.time && a.i > b.i);
    let newest = group[0]!;
    for (const x of group) if (newer(x, newest)) newest = x;
    add(newest.i, 'newest point');
    for (const x of group) {
      const inWindow = x.p.time >= newest.p.time - policy.pointInTimeDays * DAY;
      if (policy.pointInTimeDays > 0 && inWindow) add(x.i, 'point-in-time window');
    }
    const selfContained = group.filter((x) => x.p.kind === 'full' || x.p.kind === 'files');
    const tiers: Array<[string, number, (day: string) => string]> = [
      ['daily', policy.daily, (day) => day],
      ['weekly', policy.weekly, (day) => referenceWeek(day)],
      ['monthly', policy.monthly, (day) => day.slice(0, 7)],
    ];
    for (const [name, count, bucketOf] of tiers) {
      const buckets = new Map<string, { p: RetentionPoint; i: number }>();
      for (const x of selfContained) {
        const bucket = bucketOf(referenceDay(x.p.time, timezone));
        const best = buckets.get(bucket);
        if (!best || newer(x, best)) buckets.set(bucket, x);
      }
      const recent = [...buckets.keys()].sort().reverse().slice(0, count);
      for (const bucket of recent) add(buckets.get(bucket)!.i, `${name} ${bucket}`);
    }
  }
  // Close the chains: repeat until no kept incremental has an unkept parent.
  const withId = new Map<string, number[]>();
  points.forEach((p, i) => withId.set(p.id, [...(withId.get(p.id) ?? []), i]));
  const parentsOf = (p: RetentionPoint, i: number): number[] =>
    p.parent === undefined ? [] : (withId.get(p.parent) ?? []).filter((j) => j !== i);
  let changed = true;
  while (changed) {
    changed = false;
    points.forEach((p, i) => {
      if (!reasons.has(i) || p.kind !== 'incremental') return;
      for (const j of parentsOf(p, i)) {
        if (!reasons.has(j)) {
          add(j, 'placeholder');
          changed = true;
        }
      }
    });
  }
  // Now that the kept set is final, write the chain reasons.
  points.forEach((p, i) => {
    if (!reasons.has(i) || p.kind !== 'incremental') return;
    if (p.parent === undefined || p.parent === '') add(i, 'chain broken: no parent recorded');
    else if (!withId.has(p.parent)) add(i, `chain broken: parent ${p.parent} missing`);
    for (const j of parentsOf(p, i)) add(j, `needed by ${p.id}`);
  });
  const kept: KeptMap = {};
  for (const [i, set] of reasons) {
    set.delete('placeholder');
    kept[points[i]!.id] = [...set].sort();
  }
  return kept;
}
