/**
 * Cron expressions evaluated in a time zone, as pure functions of an instant. croner parses and
 * computes the times; it never owns a timer here, so the scheduler's (injectable) clock decides
 * when anything fires and tests can drive months in milliseconds.
 *
 * DST (croner >= 10 follows Vixie cron, see docs/scheduler.md):
 * - fixed-time expressions (one value each in second, minute and hour, e.g. `30 2 * * *`) run once
 *   per matching day: a skipped time (spring forward) runs when the clock jumps, at the first valid
 *   time after the gap; a repeated time (fall back) runs at its first occurrence only;
 * - interval expressions (`0 * * * *`, `*\/5 * * * *`) follow real elapsed time: a skipped hour is
 *   skipped, a repeated hour runs twice.
 */
import { Cron } from 'croner';
import { ConfigError } from '../errors.js';

/** A parsed cron expression bound to a time zone. */
export interface CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  /** The first slot strictly after `afterMs` (epoch ms), or null when there is none. */
  next(afterMs: number): number | null;
  /** The newest slot at or before `atMs`, or null when there is none. */
  newestAtOrBefore(atMs: number): number | null;
}

/**
 * Parses `expression` (5 fields, or 6 with seconds first) for `timezone`. Throws a ConfigError
 * naming `label` (e.g. "backup.schedule.full") when the expression or the zone is invalid, or when
 * the expression can never match (such as 30 February).
 */
export function parseSchedule(expression: string, timezone: string, label = 'schedule'): CronSchedule {
  assertTimezone(timezone, `${label} (time zone)`);
  let cron: Cron;
  try {
    // paused and without a callback: croner computes times and never starts a timer of its own.
    cron = new Cron(expression, { timezone, paused: true, mode: '5-or-6-parts' });
  } catch (err) {
    throw new ConfigError('E_CONFIG_CRON', `${label}: "${expression}" is not a valid cron expression`, {
      hint: `use five fields "minute hour day-of-month month day-of-week", e.g. "0 3 * * *" for 03:00 daily, or six with seconds first (${(err as Error).message})`,
      cause: err,
    });
  }
  const schedule: CronSchedule = {
    expression,
    timezone,
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime() ?? null;
    },
    newestAtOrBefore(atMs) {
      // croner's previousRuns excludes its reference instant and includes earlier runs in the
      // same second, so one millisecond later makes "at or before" inclusive.
      return cron.previousRuns(1, new Date(atMs + 1))[0]?.getTime() ?? null;
    },
  };
  // 8 years covers every calendar pattern that can match at all (29 February needs up to 8).
  const probe = Date.UTC(2024, 0, 1);
  const first = schedule.next(probe);
  if (first === null || first > probe + 8 * 366 * 86_400_000) {
    throw new ConfigError('E_CONFIG_CRON', `${label}: "${expression}" never matches any date`, {
      hint: 'check the day-of-month and month fields (e.g. "0 3 30 2 *" asks for 30 February)',
    });
  }
  return schedule;
}

/** Throws a ConfigError naming `label` unless `timezone` is an IANA zone this Node knows. */
export function assertTimezone(timezone: string, label = 'timezone'): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ConfigError('E_CONFIG_VALUE', `${label}: "${timezone}" is not a known time zone`, {
      hint: 'use an IANA time zone name such as "Europe/Berlin", "America/New_York" or "UTC" (backup.timezone)',
    });
  }
}
