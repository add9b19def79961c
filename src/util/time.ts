/**
 * Parsing of the time expressions users type: ISO 8601 instants, relative ages ("7d", "12h",
 * "30m", "90s"), and durations for objectives ("1h", "4h"). One implementation for every flag
 * (`--since`, `--until`, `--at`) and config field (`backup.objectives.rpo`).
 */
import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** Parses "90s", "30m", "1h", "7d", "2w" into milliseconds; returns undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** Formats milliseconds as a short human duration: "850 ms", "12.3 s", "4 min 10 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const neg = ms < 0 ? '-' : '';
  ms = Math.abs(ms);
  if (ms < 1000) return `${neg}${Math.round(ms)} ms`;
  if (ms < 60_000) return `${neg}${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${neg}${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${neg}${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${neg}${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// A full ISO 8601 date or date-time; a date-time without an offset is read as UTC (logs are UTC).
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Parses a point in time given on the command line: an ISO 8601 date or date-time (UTC unless an
 * offset is given), a relative age such as "7d" meaning 7 days before `now`, or "now".
 * Throws a UsageError naming `flag` when the text is neither.
 */
export function parseInstant(text: string, flag: string, now: number = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return now;
  const rel = parseDurationMs(t);
  if (rel !== undefined) return now - rel;
  if (ISO_RE.test(t)) {
    let iso = t.replace(' ', 'T');
    if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) iso += 'T00:00:00Z';
    else if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(iso)) iso += 'Z';
    const ms = Date.parse(iso);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new UsageError('E_BAD_TIME', `${flag}: "${text}" is not a time`, {
    hint: `use an ISO 8601 time (2026-11-26T14:00:00Z, 2026-11-26) or an age such as 30m, 12h, 7d`,
  });
}

/** ISO 8601 UTC with milliseconds, the one timestamp format safetynet writes. */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
