/**
 * Store-independent pieces of searching: checking a filter, parsing the text query, and the
 * keyset cursor. Every store uses these so that the same filter means the same thing everywhere.
 */
import { UsageError } from '../../errors.js';
import { LEVELS, isLevel, type Level, type LogFilter, type SearchOptions } from '../types.js';
import type { CountOptions } from './types.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

/** Position after the last entry of a page: entries sort by (ts, id) descending. */
export interface CursorPosition {
  ts: number;
  id: number;
}

/** Opaque cursor text for a position (base64url of "ts:id"). */
export function encodeCursor(pos: CursorPosition): string {
  return Buffer.from(`${pos.ts}:${pos.id}`).toString('base64url');
}

/** Reads a cursor; a damaged or foreign one is a UsageError naming `--cursor`. */
export function decodeCursor(cursor: string): CursorPosition {
  const m = /^(-?\d{1,16}):(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new UsageError('E_BAD_CURSOR', `--cursor: "${cursor}" is not a cursor from a previous search`, {
      hint: 'pass the value printed as "next cursor" by the previous page, or drop --cursor to start at the newest entry',
    });
  }
  return { ts: Number(m[1]), id: Number(m[2]) };
}

/** One word or quoted phrase of a text query; `prefix` when it ended in `*`. */
export interface TextTerm {
  text: string;
  prefix: boolean;
}

/**
 * Splits a text query into terms: words, or "quoted phrases"; a trailing `*` asks for a prefix
 * match. All terms must match. Punctuation-only terms are dropped (they match nothing useful);
 * a query with no searchable term at all is a UsageError.
 */
export function parseTextQuery(q: string): TextTerm[] {
  const terms: TextTerm[] = [];
  const re = /"([^"]*)"(\*?)|(\S+)/g;
  for (let m = re.exec(q); m; m = re.exec(q)) {
    let text = m[1] ?? m[3] ?? '';
    let prefix = m[2] === '*';
    if (m[3] !== undefined && text.endsWith('*')) {
      text = text.replace(/\*+$/, '');
      prefix = true;
    }
    if (/[\p{L}\p{N}]/u.test(text)) terms.push({ text, prefix });
  }
  if (terms.length === 0) {
    throw new UsageError('E_BAD_TEXT', `--text: "${q}" has no word to search for`, {
      hint: 'search for words or numbers, e.g. --text "card declined" or --text refund*',
    });
  }
  return terms;
}

/** The terms as an FTS5 query: each a quoted phrase (so operators in user text stay literal), ANDed. */
export function ftsQuery(terms: TextTerm[]): string {
  return terms.map((t) => `"${t.text.replace(/"/g, '""')}"${t.prefix ? '*' : ''}`).join(' ');
}

/** A LIKE pattern matching the term anywhere (backslash escapes). */
export function likePattern(term: TextTerm): string {
  return `%${term.text.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
}

/** Rejects filters no store can answer (bad level, inverted range …) with a UsageError. */
export function checkFilter(filter: LogFilter): void {
  for (const [key, level] of [
    ['level', filter.level],
    ['minLevel', filter.minLevel],
  ] as const) {
    if (level !== undefined && !isLevel(level)) {
      throw new UsageError('E_BAD_LEVEL', `${key}: "${String(level)}" is not a level`, {
        hint: `use one of: ${LEVELS.join(', ')}`,
      });
    }
  }
  if (filter.level !== undefined && filter.minLevel !== undefined) {
    throw new UsageError('E_BAD_FILTER', 'level and minLevel cannot be combined', {
      hint: 'use --level for exactly one level or --min-level for that level and above',
    });
  }
  for (const key of ['since', 'until'] as const) {
    const v = filter[key];
    if (v !== undefined && !Number.isFinite(v)) {
      throw new UsageError('E_BAD_TIME', `${key}: ${String(v)} is not a time`, {
        hint: 'pass milliseconds since the epoch',
      });
    }
  }
}

/** The page size asked for, checked. */
export function pageSize(options: SearchOptions | undefined): number {
  const n = options?.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw new UsageError(
      'E_BAD_LIMIT',
      `--limit: ${String(n)} is not a page size between 1 and ${MAX_PAGE_SIZE}`,
      {
        hint: `use a whole number from 1 to ${MAX_PAGE_SIZE}, and --cursor for the next page`,
      },
    );
  }
  return n;
}

/**
 * The count limit the admin panel and `logs search` use by default: per-level counts stop after
 * about this many matching entries (shown as "at least"), which keeps them well under 200 ms on a
 * 10M-entry store; exact counts are asked for explicitly.
 */
export const DEFAULT_COUNT_LIMIT = 20_000;

/** The count limit asked for, checked (undefined: count everything). */
export function countLimit(options: CountOptions | undefined): number | undefined {
  const n = options?.limit;
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError('E_BAD_LIMIT', `limit: ${String(n)} is not a count limit`, {
      hint: 'give a whole number of entries (at least 1), or no limit for exact counts',
    });
  }
  return n;
}

/** Zero counts for every level. */
export function zeroCounts(): Record<Level, number> {
  return { info: 0, warn: 0, error: 0, critical: 0 };
}
