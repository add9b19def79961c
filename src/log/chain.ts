/**
 * The hash chain that makes the log tamper-evident.
 *
 * Each category is one chain: entry n of category C stores `seq = n` and
 * `hash = SHA-256(link text)`, where the link text covers the previous entry's hash in C, the
 * entry's id, seq and every spec field (see docs/logging.md, "Chain format"):
 *
 *   "safetynet-log-v1\n" prev_hex "\n" id "\n" seq "\n" ts_ms "\n" level "\n" category "\n"
 *   field(message) field(details) field(order_id) field(error_stack)
 *
 * with field(null) = "~\n" and field(s) = <UTF-8 byte length of s> ":" s "\n". The length prefixes
 * make the encoding unambiguous whatever the fields contain. The first entry of a chain links to
 * 64 zeros. Editing an entry changes its hash; deleting one leaves a gap in seq; moving content to
 * another id changes the hash (the id is covered). Per-category chains let retention delete each
 * category's oldest entries without cutting other categories' chains.
 *
 * A store with many concurrent writers (PostgreSQL) keeps one chain per (writer, category) so that
 * writers never wait for each other; their links (v2) also cover the writer's number:
 *
 *   "safetynet-log-v2\n" prev_hex "\n" writer "\n" id "\n" seq "\n" … (the rest as in v1)
 *
 * Writer 0 is the v1 format: the single per-category chains of SQLite stores and of PostgreSQL
 * stores written before per-writer chains (they keep verifying as they were written).
 *
 * Writers are registered in a chain of their own (`writerHash`), so that a writer cannot be removed
 * from the middle of the registry unnoticed.
 */
import { hash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);
const PREFIX = 'safetynet-log-v1\n';
const PREFIX_V2 = 'safetynet-log-v2\n';
const WRITER_PREFIX = 'safetynet-log-writer-v1\n';

export interface ChainFields {
  /** The writer whose chain the entry belongs to; 0 or absent: the v1 per-category chains. */
  writer?: number;
  id: number;
  seq: number;
  ts: number;
  level: string;
  category: string;
  message: string;
  details: string;
  orderId: string | null;
  errorStack: string | null;
}

function field(s: string | null): string {
  return s === null ? '~\n' : `${Buffer.byteLength(s)}:${s}\n`;
}

/** The hex SHA-256 of one chain link. */
export function linkHash(prevHex: string, e: ChainFields): string {
  return linkHashOf(
    prevHex,
    e.id,
    e.seq,
    e.ts,
    e.level,
    e.category,
    e.message,
    e.details,
    e.orderId,
    e.errorStack,
    e.writer,
  );
}

/**
 * linkHash with the fields as arguments: the append path calls it once per entry, and building
 * a ChainFields object for each call was measurable there. The same bytes are hashed.
 */
export function linkHashOf(
  prevHex: string,
  id: number,
  seq: number,
  ts: number,
  level: string,
  category: string,
  message: string,
  details: string,
  orderId: string | null,
  errorStack: string | null,
  writer?: number,
): string {
  return hash(
    'sha256',
    (writer ? PREFIX_V2 + prevHex + '\n' + writer : PREFIX + prevHex) +
      '\n' +
      id +
      '\n' +
      seq +
      '\n' +
      ts +
      '\n' +
      level +
      '\n' +
      category +
      '\n' +
      field(message) +
      field(details) +
      field(orderId) +
      field(errorStack),
    'hex',
  );
}

/** One registered writer, as the registry chain covers it. */
export interface WriterLink {
  id: number;
  /** When it was registered, ms since the epoch. */
  registeredAt: number;
}

/** The hex SHA-256 of a writer's registry link (the first writer links to 64 zeros). */
export function writerHash(prevHex: string, w: WriterLink): string {
  return hash('sha256', `${WRITER_PREFIX}${prevHex}\n${w.id}\n${w.registeredAt}\n`, 'hex');
}
