/**
 * Text search terms for PostgreSQL's full-text search, made to behave like the SQLite store's
 * FTS5 `unicode61 remove_diacritics` tokenizer: words are runs of letters and digits, compared
 * without case and diacritics. Both the indexed text and the query are normalised here, in
 * JavaScript, and PostgreSQL only sees plain lower-case words separated by spaces (so its own
 * parser, which would read "order-1042" as "order" and "-1042", cannot disagree with ours).
 */
import type { TextTerm } from '../query.js';

/** Indexed text is capped (a tsvector holds at most 1 MB; positions past 16383 are merged anyway). */
const MAX_INDEXED_CHARS = 200_000;
const WORD = /[\p{L}\p{N}]+/gu;

/** Any character outside ASCII (the only text that decomposition or mark removal can change). */
// eslint-disable-next-line no-control-regex -- the whole ASCII range, controls included
const NON_ASCII = /[^\u0000-\u007f]/;

/** Lower-case words without diacritics. */
export function words(text: string): string[] {
  // ASCII text is its own NFKD form and has no combining marks: skipping both makes the indexed
  // text of a benchmark message 1.15 -> 0.87 µs (most log text is ASCII).
  const folded = NON_ASCII.test(text)
    ? text
        .normalize('NFKD')
        .replace(/\p{M}+/gu, '')
        .toLowerCase()
    : text.toLowerCase();
  return folded.match(WORD) ?? [];
}

/** The text PostgreSQL indexes (to_tsvector('simple', …)) for an entry's message and raw body. */
export function indexedText(message: string, body: string | null): string {
  let text = words(message).join(' ');
  if (body)
    text += ' ' + words(body.length > MAX_INDEXED_CHARS ? body.slice(0, MAX_INDEXED_CHARS) : body).join(' ');
  return text.length > MAX_INDEXED_CHARS ? text.slice(0, MAX_INDEXED_CHARS) : text;
}

/**
 * The terms as a to_tsquery('simple', …) text: each term a phrase of its words (`<->`), a trailing
 * `*` a prefix match on the last word, all terms ANDed. Words are letters and digits only, so
 * quoting them is safe; user text never reaches the tsquery syntax.
 */
export function tsQuery(terms: TextTerm[]): string | null {
  const parts: string[] = [];
  for (const t of terms) {
    const w = words(t.text);
    if (w.length === 0) continue;
    parts.push(w.map((x, i) => `'${x}'${t.prefix && i === w.length - 1 ? ':*' : ''}`).join(' <-> '));
  }
  return parts.length ? parts.map((p) => `(${p})`).join(' & ') : null;
}

/** The raw webhook body indexed with an entry (UTF-8 bodies of `webhook` entries only), or null. */
export function webhookBody(category: string, details: string): string | null {
  if (category !== 'webhook') return null;
  try {
    const d = JSON.parse(details) as { rawBody?: unknown; rawBodyEncoding?: unknown };
    return d.rawBodyEncoding === 'utf8' && typeof d.rawBody === 'string' ? d.rawBody : null;
  } catch {
    return null;
  }
}
