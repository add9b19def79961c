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
 */
import { hash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);
const PREFIX = 'safetynet-log-v1\n';

export interface ChainFields {
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
): string {
  return hash(
    'sha256',
    PREFIX +
      prevHex +
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
