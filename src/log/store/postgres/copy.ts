/**
 * Appending a batch to the PostgreSQL store with COPY … FROM STDIN (text format), through
 * pg-copy-streams. Measured against one JSON parameter expanded with json_to_recordset (the
 * previous way), the server spends about a third less CPU per entry (bench/log/pg-copy-vs-json.ts:
 * 8.8-9.0 against 12.7-13.8 µs), because it parses plain tab-separated text and tsvector text
 * instead of JSON and running its text parser.
 *
 * The tsvector is therefore built here, from the same words the search query is built from
 * (postgres/text.ts), so the index and the queries cannot disagree about what a word is.
 */
import type pg from 'pg';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { PG_SCHEMA } from './schema.js';

/** One row of an append, as it goes into `logs`. */
export interface CopyRow {
  writer: number;
  id: number;
  ts: number;
  level: number;
  category: string;
  message: string;
  details: string;
  orderId: string | null;
  errorStack: string | null;
  seq: number;
  /** Hex SHA-256. */
  hash: string;
  /** The indexed words, space-separated (postgres/text.ts indexedText). */
  text: string;
}

const COLUMNS = 'writer, id, ts, level, category, message, details, order_id, error_stack, seq, hash, tsv';

/** PostgreSQL's limits on a tsvector: positions up to 16383, 255 per lexeme, lexemes < 2 KiB. */
const MAX_POS = 16383;
const MAX_POSITIONS = 255;
const MAX_LEXEME_BYTES = 2047;

const ESCAPE: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A text value as a COPY text-format field (NUL cannot occur: pg-store replaced it). */
function field(s: string | null): string {
  if (s === null) return '\\N';
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => ESCAPE[c]!) : s;
}

/**
 * The tsvector text of space-separated words (letters and digits only, so no quoting is needed):
 * `'refund':1 'c31337':2,5`, with PostgreSQL's limits applied as to_tsvector applies them.
 */
export function tsvectorText(text: string): string {
  if (text === '') return '';
  const words = text.split(' ');
  const n = words.length;
  // Most messages are a few distinct short words: then the text is the words with positions
  // 1..n, built without a map (allocations here cost more than the work: see copyRows).
  if (n <= 24) {
    let plain = true;
    for (let i = 0; i < n && plain; i++) {
      const w = words[i]!;
      if (w === '' || w.length > 682) plain = false;
      for (let j = 0; j < i && plain; j++) if (words[j] === w) plain = false;
    }
    if (plain) {
      let out = `'${words[0]}':1`;
      for (let i = 1; i < n; i++) out += ` '${words[i]}':${i + 1}`;
      return out;
    }
  }
  const positions = new Map<string, number[]>();
  let pos = 0;
  for (const w of words) {
    // Too long a word is dropped without taking a position, as to_tsvector does. A UTF-16 unit
    // is at most 3 UTF-8 bytes: only words over 682 units can be too long.
    if (w === '' || (w.length > 682 && Buffer.byteLength(w) > MAX_LEXEME_BYTES)) continue;
    pos++;
    let list = positions.get(w);
    if (!list) positions.set(w, (list = []));
    if (list.length < MAX_POSITIONS) list.push(Math.min(pos, MAX_POS));
  }
  // Parts joined once: a string grown with += is a deep rope, which made building the COPY text
  // five times slower when it was flattened there.
  const parts: string[] = [];
  for (const [w, list] of positions) parts.push(`'${w}':${list.join(',')}`);
  return parts.join(' ');
}

/**
 * Rows per piece of COPY text. Each piece is formatted when the stream asks for it and is
 * garbage soon after, so a commit of 32k entries never holds its rows, their tsvectors and their
 * lines at once: held for a whole commit they outlived the young generation, and the collector's
 * helper threads spent more CPU on them than the writer spent formatting (bench/log/pg-ingest.ts).
 */
const PIECE_ROWS = 512;

/**
 * COPYs the rows into `logs` on the client's open transaction. `rows` may be computed as they are
 * read (a generator): each is read once, in order, while the COPY runs.
 */
export async function copyRows(client: pg.PoolClient, rows: Iterable<CopyRow>): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${PG_SCHEMA}.logs (${COLUMNS}) FROM STDIN`));
  await pipeline(Readable.from(pieces(rows), { objectMode: false }), stream);
}

/** The COPY text of `rows`, PIECE_ROWS lines at a time. */
function* pieces(rows: Iterable<CopyRow>): Generator<string> {
  let lines: string[] = [];
  for (const r of rows) {
    lines.push(copyLine(r));
    if (lines.length === PIECE_ROWS) {
      yield lines.join('');
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join('');
}

/** One row as a line of COPY text (the columns of COLUMNS). */
function copyLine(r: CopyRow): string {
  return (
    `${r.writer}\t${r.id}\t${r.ts}\t${r.level}\t${field(r.category)}\t${field(r.message)}\t` +
    `${field(r.details)}\t${field(r.orderId)}\t${field(r.errorStack)}\t${r.seq}\t\\\\x${r.hash}\t${tsvectorText(r.text)}\n`
  );
}
