/**
 * Which restore points to keep: a pure function from (points, policy, time zone) to one decision per point,
 * each with the reasons for it, so `safetynet prune --dry-run` can say exactly why something stays or goes.
 *
 * Semantics
 * - Points are grouped by `source` ("db", "files", …); each group is decided on its own, so a busy source
 *   never pushes another source's points out of their buckets.
 * - Calendar tiers, as restic's `forget --keep-daily/--keep-weekly/--keep-monthly`: walk the group's
 *   self-contained points (kind "full" and "files") newest first. A point is kept for the daily tier when its
 *   calendar day (in `timezone`) differs from the last day the tier took and fewer than `daily` days have been
 *   taken; likewise ISO weeks (Monday first, the week-year of the week's Thursday, so 2024-12-30 is 2025-W01)
 *   and months. Tiers are ORed and a point can carry several reasons ("daily 2026-11-25", "weekly 2026-W48",
 *   "monthly 2026-11"). Days are calendar days, not 24-hour spans: a 23- or 25-hour DST day is one bucket.
 *   Incrementals never fill a calendar bucket: they cannot be restored without their chain.
 * - Point-in-time window: every point (any kind) with time >= newest − pointInTimeDays × 24 h is kept
 *   ("point-in-time window"); pointInTimeDays 0 means no window. Measured from the group's newest point, like restic's --keep-within, so a shop
 *   whose backups stopped months ago never sees its last points expire. Fulls inside the window are kept too:
 *   each one is a `restore --at` target, and dropping it would silently coarsen point-in-time restore.
 * - The newest point of each group is always kept ("newest point"); ties in time go to the later input.
 * - Chains: every kept incremental keeps its parent ("needed by <child id>"), transitively, so no kept
 *   incremental ever loses the full it builds on. Parents are looked up by id across all groups.
 * - Broken chains (a parent missing from the input, or no parent at all): the incremental is judged like any
 *   other — kept inside the window or as the newest point, removed outside — and a kept one says
 *   "chain broken: parent <id> missing" so `verify`/`prune` can surface it. Never a crash; cycles are harmless.
 * - Points this function cannot reason about (a time that is not a valid instant, an unknown kind) are kept,
 *   with a reason that says so: deleting what we do not understand is the one mistake we cannot undo.
 * - Output: one decision per input point, in input order; removed points carry the reason they were removed.
 */
import { ConfigError } from '../errors.js';

export type RetentionPointKind = 'full' | 'incremental' | 'files';

export interface RetentionPoint {
  id: string;
  /** Milliseconds since the epoch. */
  time: number;
  kind: RetentionPointKind;
  /** What was backed up, e.g. "db" or "files"; groups are decided independently. */
  source: string;
  /** For incrementals: the id of the point it builds on. */
  parent?: string;
}

export interface RetentionPolicy {
  /** How many calendar days keep their newest self-contained point. */
  daily: number;
  /** How many ISO weeks keep their newest self-contained point. */
  weekly: number;
  /** How many calendar months keep their newest self-contained point. */
  monthly: number;
  /** Every point within this many days (24 h each) before the group's newest point is kept. */
  pointInTimeDays: number;
}

export interface RetentionDecision {
  id: string;
  keep: boolean;
  /** Why: for kept points every reason that applies; for removed ones, why nothing kept them. */
  reasons: string[];
}

const DAY_MS = 86_400_000;
// The range of instants a JavaScript Date (and so Intl) can represent.
const MAX_INSTANT_MS = 8.64e15;
const SELF_CONTAINED: ReadonlySet<string> = new Set(['full', 'files']);
const KNOWN_KINDS: ReadonlySet<string> = new Set(['full', 'files', 'incremental']);

interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

interface Tier {
  name: 'daily' | 'weekly' | 'monthly';
  count: number;
  label: (date: CalendarDate) => string;
  taken: number;
  last: string | undefined;
}

/**
 * Decides, for every restore point, whether the policy keeps it and why. Pure: no clock, no I/O.
 * Throws ConfigError for a policy value or time zone that is not usable (naming the config field).
 */
export function planRetention(
  points: readonly RetentionPoint[],
  policy: RetentionPolicy,
  opts: { timezone: string },
): RetentionDecision[] {
  validatePolicy(policy);
  const dateOf = zonedDateFn(opts.timezone);
  const decisions: RetentionDecision[] = points.map((p) => ({ id: String(p.id), keep: false, reasons: [] }));
  const keepFor = (index: number, reason: string): void => {
    const d = decisions[index]!;
    d.keep = true;
    if (!d.reasons.includes(reason)) d.reasons.push(reason);
  };

  const groups = new Map<string, number[]>();
  points.forEach((p, index) => {
    if (!isValidInstant(p.time)) return keepFor(index, 'invalid time: kept until it is fixed');
    if (!KNOWN_KINDS.has(p.kind)) return keepFor(index, `unknown kind "${String(p.kind)}": kept to be safe`);
    const key = String(p.source);
    const members = groups.get(key);
    if (members) members.push(index);
    else groups.set(key, [index]);
  });

  const cutoffs = new Map<string, number>();
  for (const [source, members] of groups) {
    cutoffs.set(source, decideGroup(points, members, policy, dateOf, keepFor));
  }
  keepChains(points, decisions, keepFor);
  explainRemovals(points, decisions, cutoffs, policy);
  return decisions;
}

/** Applies newest point, window and calendar tiers to one source's points; returns the window's cutoff. */
function decideGroup(
  points: readonly RetentionPoint[],
  members: number[],
  policy: RetentionPolicy,
  dateOf: (ms: number) => CalendarDate,
  keepFor: (index: number, reason: string) => void,
): number {
  // Newest first; for equal times the later input counts as newer (it was recorded later).
  const order = [...members].sort((a, b) => points[b]!.time - points[a]!.time || b - a);
  const newest = order[0]!;
  const cutoff = points[newest]!.time - policy.pointInTimeDays * DAY_MS;

  const tiers: Tier[] = [
    { name: 'daily', count: policy.daily, label: dayLabel, taken: 0, last: undefined },
    { name: 'weekly', count: policy.weekly, label: isoWeekLabel, taken: 0, last: undefined },
    { name: 'monthly', count: policy.monthly, label: monthLabel, taken: 0, last: undefined },
  ];
  for (const index of order) {
    const point = points[index]!;
    if (!SELF_CONTAINED.has(point.kind)) continue;
    const date = dateOf(point.time);
    for (const tier of tiers) {
      if (tier.taken >= tier.count) continue;
      const label = tier.label(date);
      if (label === tier.last) continue;
      tier.last = label;
      tier.taken++;
      keepFor(index, `${tier.name} ${label}`);
    }
  }
  // pointInTimeDays 0 switches the window off (rather than keeping whatever shares the newest instant).
  for (const index of policy.pointInTimeDays > 0 ? order : []) {
    if (points[index]!.time < cutoff) break;
    keepFor(index, 'point-in-time window');
  }
  keepFor(newest, 'newest point');
  return cutoff;
}

/** Every kept incremental keeps its parent, transitively; reports broken chains on the kept child. */
function keepChains(
  points: readonly RetentionPoint[],
  decisions: RetentionDecision[],
  keepFor: (index: number, reason: string) => void,
): void {
  const byId = new Map<string, number[]>();
  points.forEach((p, index) => {
    const id = String(p.id);
    const same = byId.get(id);
    if (same) same.push(index);
    else byId.set(id, [index]);
  });
  const queue: number[] = [];
  const queued = new Set<number>();
  const enqueue = (index: number): void => {
    if (points[index]!.kind !== 'incremental' || queued.has(index)) return;
    queued.add(index);
    queue.push(index);
  };
  decisions.forEach((d, index) => d.keep && enqueue(index));
  while (queue.length > 0) {
    const child = queue.pop()!;
    const parentId = points[child]!.parent;
    const parents = parentId === undefined || parentId === '' ? undefined : byId.get(String(parentId));
    if (!parents) {
      keepFor(
        child,
        parentId ? `chain broken: parent ${parentId} missing` : 'chain broken: no parent recorded',
      );
      continue;
    }
    for (const parent of parents) {
      if (parent === child) continue;
      keepFor(parent, `needed by ${decisions[child]!.id}`);
      enqueue(parent);
    }
  }
}

/** Gives every removed point the reason nothing kept it. */
function explainRemovals(
  points: readonly RetentionPoint[],
  decisions: RetentionDecision[],
  cutoffs: Map<string, number>,
  policy: RetentionPolicy,
): void {
  decisions.forEach((d, index) => {
    if (d.keep) return;
    const p = points[index]!;
    const window =
      policy.pointInTimeDays > 0
        ? `before the point-in-time window (from ${new Date(cutoffs.get(String(p.source))!).toISOString()})`
        : 'no point-in-time window';
    d.reasons.push(
      p.kind === 'incremental'
        ? `incremental ${window}, needed by no kept point`
        : `not the newest point of a kept day, week or month; ${window}`,
    );
  });
}

function validatePolicy(policy: RetentionPolicy): void {
  for (const field of ['daily', 'weekly', 'monthly'] as const) {
    const value = policy?.[field];
    if (!Number.isInteger(value) || value < 0) {
      throw new ConfigError(
        'E_CONFIG_VALUE',
        `backup.retention.${field} must be a whole number >= 0, got ${value}`,
        {
          hint: `Set backup.retention.${field} to how many ${field} buckets to keep, e.g. 30 daily, 12 weekly, 12 monthly.`,
        },
      );
    }
  }
  const days = policy.pointInTimeDays;
  if (typeof days !== 'number' || !Number.isFinite(days) || days < 0) {
    throw new ConfigError(
      'E_CONFIG_VALUE',
      `backup.retention.pointInTimeDays must be a number >= 0, got ${days}`,
      {
        hint: 'Set backup.retention.pointInTimeDays to how many days of incrementals to keep, e.g. 7.',
      },
    );
  }
}

function isValidInstant(ms: unknown): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= MAX_INSTANT_MS;
}

/** A function from instant to the calendar date in `timezone` (Gregorian, via Intl). */
function zonedDateFn(timezone: string): (ms: number) => CalendarDate {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US-u-ca-gregory-nu-latn', {
      timeZone: timezone,
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    });
  } catch (cause) {
    throw new ConfigError('E_CONFIG_VALUE', `backup.timezone "${timezone}" is not a known IANA time zone`, {
      hint: 'Set backup.timezone to a name like "Europe/Berlin", "America/New_York" or "UTC".',
      cause,
    });
  }
  return (ms) => {
    let year = 0;
    let month = 0;
    let day = 0;
    let bc = false;
    for (const part of format.formatToParts(ms)) {
      if (part.type === 'year') year = Number(part.value);
      else if (part.type === 'month') month = Number(part.value);
      else if (part.type === 'day') day = Number(part.value);
      else if (part.type === 'era') bc = part.value.startsWith('B');
    }
    // Proleptic ISO years: 1 BC is year 0 (only reachable with absurd input, but it must not collide).
    return { year: bc ? 1 - year : year, month, day };
  };
}

function pad(n: number, width = 2): string {
  const s = String(Math.abs(n)).padStart(width, '0');
  return n < 0 ? `-${s}` : s;
}

function dayLabel(d: CalendarDate): string {
  return `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`;
}

function monthLabel(d: CalendarDate): string {
  return `${pad(d.year, 4)}-${pad(d.month)}`;
}

/** ISO 8601 week label ("2025-W01"): weeks start on Monday and belong to the year of their Thursday. */
function isoWeekLabel(d: CalendarDate): string {
  const { year, week } = isoWeek(d);
  return `${pad(year, 4)}-W${pad(week)}`;
}

/** ISO week-year and week number of a calendar date. */
function isoWeek(d: CalendarDate): { year: number; week: number } {
  const date = new Date(0);
  date.setUTCFullYear(d.year, d.month - 1, d.day); // setUTCFullYear: years 0–99 are not shifted to 19xx
  const mondayBased = (date.getUTCDay() + 6) % 7;
  const thursday = new Date(date.getTime() + (3 - mondayBased) * DAY_MS);
  const weekYear = thursday.getUTCFullYear();
  const jan1 = new Date(0);
  jan1.setUTCFullYear(weekYear, 0, 1);
  const week = Math.floor((thursday.getTime() - jan1.getTime()) / DAY_MS / 7) + 1;
  return { year: weekYear, week };
}
