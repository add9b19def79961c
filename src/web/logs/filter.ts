/**
 * The Logs page's filter lives in the URL's query string (shareable, bookmarkable, the back button
 * works). This module turns those parameters into a LogFilter, collecting every problem with a
 * message per field instead of throwing, so the page can show them next to the inputs (HTTP 400).
 */
import { LEVELS, isLevel, type Level, type LogFilter } from '../../log/types.js';
import { parseDurationMs } from '../../util/time.js';

/** The form's values as the user typed them (re-rendered into the form). */
export interface LogsForm {
  categories: string[];
  level: Level | '';
  /** `min`: this level and more severe; `exact`: only this level. */
  match: 'min' | 'exact';
  since: string;
  until: string;
  order: string;
  q: string;
  cursor: string;
  /** `exact`: count every matching entry per level (otherwise counting stops at a limit). */
  counts: '' | 'exact';
}

export type LogsField = keyof LogsForm;

export interface FieldError {
  /** The form field the problem is about (`format` only for exports). */
  field: LogsField | 'format';
  message: string;
}

export interface ParsedLogsQuery {
  form: LogsForm;
  filter: LogFilter;
  cursor: string | undefined;
  errors: FieldError[];
}

const LIMITS = { categories: 50, category: 64, text: 500, order: 200, time: 64, cursor: 200 } as const;

const DAY_MS = 86_400_000;
// ISO 8601 as typed in a form: a date, or a date and time (seconds optional), UTC unless an offset.
const ISO_RE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * The URL parameters of a form (empty values left out), for links and redirects. `counts=exact` is
 * not carried over: exact counts are asked for on one page at a time (see the Logs page).
 */
export function formParams(form: LogsForm): Record<string, string | string[]> {
  return {
    category: form.categories,
    level: form.level,
    match: form.level && form.match !== 'min' ? form.match : '',
    since: form.since,
    until: form.until,
    order: form.order,
    q: form.q,
    cursor: form.cursor,
  };
}

/** An empty form (no filter). */
export function emptyForm(): LogsForm {
  return {
    categories: [],
    level: '',
    match: 'min',
    since: '',
    until: '',
    order: '',
    q: '',
    cursor: '',
    counts: '',
  };
}

/**
 * Reads the query string. `categories` are the names the store or config knows; `now` resolves
 * relative times ("24h" = the last 24 hours).
 */
export function parseLogsQuery(query: unknown, categories: readonly string[], now: number): ParsedLogsQuery {
  const q = (query && typeof query === 'object' ? query : {}) as Record<string, unknown>;
  const errors: FieldError[] = [];
  const form = emptyForm();
  const filter: LogFilter = {};

  const one = (name: string, field: LogsField, max: number): string => {
    const v = q[name];
    if (v === undefined) return '';
    if (Array.isArray(v)) {
      errors.push({ field, message: `${name} was given ${v.length} times; give it once` });
      return '';
    }
    const s = String(v).trim();
    if (s.length > max) {
      errors.push({ field, message: `${name} is ${s.length} characters long; at most ${max} are allowed` });
      return '';
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(s)) {
      errors.push({ field, message: `${name} contains control characters` });
      return '';
    }
    return s;
  };

  // Categories: any number of `category=` parameters, each one the store or config knows.
  const rawCats = q.category === undefined ? [] : Array.isArray(q.category) ? q.category : [q.category];
  if (rawCats.length > LIMITS.categories) {
    errors.push({
      field: 'categories',
      message: `${rawCats.length} categories given; at most ${LIMITS.categories}`,
    });
  } else {
    for (const c of rawCats.map((x) => String(x).trim()).filter(Boolean)) {
      if (c.length <= LIMITS.category && categories.includes(c)) {
        if (!form.categories.includes(c)) form.categories.push(c);
      } else {
        errors.push({
          field: 'categories',
          message: `"${c.slice(0, LIMITS.category)}" is not a log category; known: ${categories.join(', ')}`,
        });
      }
    }
  }
  if (form.categories.length > 0) filter.categories = [...form.categories];

  const level = one('level', 'level', 16);
  if (level) {
    if (isLevel(level)) form.level = level;
    else
      errors.push({ field: 'level', message: `"${level}" is not a level; use one of ${LEVELS.join(', ')}` });
  }
  const match = one('match', 'match', 16);
  if (match === 'exact' || match === 'min') form.match = match;
  else if (match)
    errors.push({ field: 'match', message: `"${match}" is not a level match; use "min" or "exact"` });
  if (form.level) {
    if (form.match === 'exact') filter.level = form.level;
    else if (form.level !== 'info') filter.minLevel = form.level;
  }

  form.since = one('since', 'since', LIMITS.time);
  form.until = one('until', 'until', LIMITS.time);
  const since = form.since ? parseTime(form.since, now, 'start') : undefined;
  const until = form.until ? parseTime(form.until, now, 'end') : undefined;
  if (since === null) errors.push({ field: 'since', message: timeMessage('From', form.since) });
  else if (since !== undefined) filter.since = since;
  if (until === null) errors.push({ field: 'until', message: timeMessage('To', form.until) });
  else if (until !== undefined) filter.until = until;
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    errors.push({
      field: 'until',
      message: `"To" (${form.until}) must be later than "From" (${form.since})`,
    });
  }

  form.order = one('order', 'order', LIMITS.order);
  if (form.order) filter.orderId = form.order;

  form.q = one('q', 'q', LIMITS.text);
  if (form.q) {
    if (/[\p{L}\p{N}]/u.test(form.q)) filter.text = form.q;
    else
      errors.push({
        field: 'q',
        message: `"${form.q}" has no word to search for; search for words or numbers`,
      });
  }

  form.cursor = one('cursor', 'cursor', LIMITS.cursor);
  if (form.cursor && !/^[A-Za-z0-9_-]+$/.test(form.cursor)) {
    errors.push({
      field: 'cursor',
      message: 'the page position in the link is damaged; start again from the newest entries',
    });
    form.cursor = '';
  }

  const counts = one('counts', 'counts', 16);
  if (counts === 'exact') form.counts = 'exact';
  else if (counts)
    errors.push({
      field: 'counts',
      message: `"${counts}" is not a way of counting; use "exact" or leave it out`,
    });

  return { form, filter, cursor: form.cursor || undefined, errors };
}

function timeMessage(label: string, text: string): string {
  return `"${label}": "${text}" is not a time; use 2026-11-26 14:00 (UTC), 2026-11-26, or an age such as 30m, 24h, 7d`;
}

/**
 * A time typed in the form, in UTC unless it carries an offset. An age ("24h") counts back from
 * now. A date alone means the start of that day, or, for the end of a range, the end of it (so
 * "To 2026-11-26" includes the whole 26th). Returns null when the text is not a time.
 */
export function parseTime(text: string, now: number, edge: 'start' | 'end'): number | null {
  if (text === 'now') return now;
  const age = parseDurationMs(text);
  if (age !== undefined) return now - age;
  const m = ISO_RE.exec(text);
  if (!m) return null;
  const [, date, time, zone] = m;
  let iso = `${date}T${time ?? '00:00'}${zone ?? 'Z'}`;
  if (time && time.length === 5) iso = `${date}T${time}:00${zone ?? 'Z'}`;
  const ms = Date.parse(iso);
  // Date.parse accepts 2026-02-31 by rolling over; a real date must print back the same.
  if (Number.isNaN(ms) || new Date(Date.parse(`${date}T00:00:00Z`)).toISOString().slice(0, 10) !== date)
    return null;
  return !time && edge === 'end' ? ms + DAY_MS : ms;
}
