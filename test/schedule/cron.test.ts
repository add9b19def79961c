import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseSchedule } from '../../src/schedule/cron.js';

const t = (isoText: string): number => Date.parse(isoText);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

describe('parseSchedule', () => {
  it('computes the next slot strictly after an instant, in the time zone', () => {
    const s = parseSchedule('0 3 * * *', 'Europe/Berlin');
    expect(iso(s.next(t('2026-01-10T01:59:59.999Z')))).toBe('2026-01-10T02:00:00.000Z');
    expect(iso(s.next(t('2026-01-10T02:00:00.000Z')))).toBe('2026-01-11T02:00:00.000Z');
    expect(iso(s.next(t('2026-07-10T00:00:00Z')))).toBe('2026-07-10T01:00:00.000Z'); // CEST
  });

  it('finds the newest slot at or before an instant (inclusive)', () => {
    const s = parseSchedule('0 3 * * *', 'Europe/Berlin');
    expect(iso(s.newestAtOrBefore(t('2026-01-10T02:00:00.000Z')))).toBe('2026-01-10T02:00:00.000Z');
    expect(iso(s.newestAtOrBefore(t('2026-01-10T01:59:59.999Z')))).toBe('2026-01-09T02:00:00.000Z');
    expect(iso(s.newestAtOrBefore(t('2026-01-10T09:00:00Z')))).toBe('2026-01-10T02:00:00.000Z');
  });

  it('accepts six fields with seconds first', () => {
    const s = parseSchedule('*/10 * * * * *', 'UTC');
    expect(iso(s.next(t('2026-01-10T00:00:01.500Z')))).toBe('2026-01-10T00:00:10.000Z');
  });

  it('follows the DST rules in docs/scheduler.md', () => {
    const fixed = parseSchedule('30 2 * * *', 'Europe/Berlin');
    // spring forward: 02:30 does not exist on 29 March; runs at 03:00 CEST that day
    expect(iso(fixed.next(t('2026-03-28T12:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    // fall back: 02:30 happens twice on 25 October; runs at the first (CEST) only
    expect(iso(fixed.next(t('2026-10-24T12:00:00Z')))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(fixed.next(t('2026-10-25T00:30:00Z')))).toBe('2026-10-26T01:30:00.000Z');
    const hourly = parseSchedule('0 * * * *', 'Europe/Berlin');
    // the repeated hour 02:00 runs twice (00:00Z CEST and 01:00Z CET)
    expect(iso(hourly.next(t('2026-10-24T23:30:00Z')))).toBe('2026-10-25T00:00:00.000Z');
    expect(iso(hourly.next(t('2026-10-25T00:00:00Z')))).toBe('2026-10-25T01:00:00.000Z');
  });

  it('throws a ConfigError naming the field for bad expressions, impossible dates and unknown zones', () => {
    const err = (() => {
      try {
        parseSchedule('0 25 * * *', 'UTC', 'backup.schedule.full');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'E_CONFIG_CRON', exitCode: 2 });
    expect((err as Error).message).toBe('backup.schedule.full: "0 25 * * *" is not a valid cron expression');
    expect((err as ConfigError).hint).toMatch(/five fields/);
    expect(() => parseSchedule('0 3 30 2 *', 'UTC', 'backup.schedule.restoreTest')).toThrow(
      /backup.schedule.restoreTest: "0 3 30 2 \*" never matches/,
    );
    expect(() => parseSchedule('0 3 29 2 *', 'UTC')).not.toThrow(); // leap days exist
    expect(() => parseSchedule('0 3 * * * * *', 'UTC')).toThrow(ConfigError); // 7 fields (years) are not taken
    expect(() => parseSchedule('', 'UTC')).toThrow(ConfigError);
    expect(() => parseSchedule('0 3 * * *', 'Mars/Olympus')).toThrow(/time zone/);
  });
});
