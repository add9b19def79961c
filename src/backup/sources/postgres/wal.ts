/**
 * WAL naming and the repository layout of the continuous log:
 *
 *   wal/<segment>.age                              a closed segment (age(zstd(16 MiB)))
 *   wal/<segment>.partial/<start>-<end>.age        new bytes of the still-open segment, offsets in hex
 *   wal/<timeline>.history.age                     timeline history files
 *
 * A segment name is TTTTTTTTXXXXXXXXYYYYYYYY (timeline, high 32 bits of the LSN, segment number
 * within those 4 GiB), as PostgreSQL names its files.
 */
import type { ObjectInfo } from '../../storage/types.js';

export const WAL_PREFIX = 'wal/';

/** Parses "0/2000028" into a bigint LSN. */
export function parseLsn(s: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(s.trim());
  if (!m) throw new Error(`not an LSN: ${s}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(l: bigint): string {
  return `${(l >> 32n).toString(16).toUpperCase()}/${(l & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The segment number holding `lsn`. */
export function segmentOf(lsn: bigint, segSize: number): bigint {
  return lsn / BigInt(segSize);
}

export function segmentName(timeline: number, segNo: bigint, segSize: number): string {
  const perId = 0x100000000n / BigInt(segSize);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segNo / perId)}${hex(segNo % perId)}`;
}

export function parseSegmentName(
  name: string,
  segSize: number,
): { timeline: number; segNo: bigint } | undefined {
  if (!/^[0-9A-F]{24}$/.test(name)) return undefined;
  const perId = 0x100000000n / BigInt(segSize);
  return {
    timeline: parseInt(name.slice(0, 8), 16),
    segNo: BigInt(`0x${name.slice(8, 16)}`) * perId + BigInt(`0x${name.slice(16, 24)}`),
  };
}

export function segmentKey(name: string): string {
  return `${WAL_PREFIX}${name}.age`;
}

export function pieceKey(name: string, start: number, end: number): string {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  return `${WAL_PREFIX}${name}.partial/${hex(start)}-${hex(end)}.age`;
}

export function historyKey(timeline: number): string {
  return `${WAL_PREFIX}${timeline.toString(16).toUpperCase().padStart(8, '0')}.history.age`;
}

/** What the repository holds of the log, from one listing of wal/. */
export interface WalListing {
  /** Closed segments by name. */
  segments: Map<string, ObjectInfo>;
  /** Pieces of open segments by segment name, ordered by end offset. */
  pieces: Map<string, { start: number; end: number; info: ObjectInfo }[]>;
  histories: ObjectInfo[];
}

export function parseWalListing(objects: Iterable<ObjectInfo>): WalListing {
  const segments = new Map<string, ObjectInfo>();
  const pieces = new Map<string, { start: number; end: number; info: ObjectInfo }[]>();
  const histories: ObjectInfo[] = [];
  for (const o of objects) {
    const rel = o.key.slice(WAL_PREFIX.length);
    let m = /^([0-9A-F]{24})\.age$/.exec(rel);
    if (m) {
      segments.set(m[1]!, o);
      continue;
    }
    m = /^([0-9A-F]{24})\.partial\/([0-9a-f]{8})-([0-9a-f]{8})\.age$/.exec(rel);
    if (m) {
      const list = pieces.get(m[1]!) ?? [];
      list.push({ start: parseInt(m[2]!, 16), end: parseInt(m[3]!, 16), info: o });
      pieces.set(m[1]!, list);
      continue;
    }
    if (/^[0-9A-F]{8}\.history\.age$/.test(rel)) histories.push(o);
  }
  for (const list of pieces.values()) list.sort((a, b) => a.end - b.end || a.start - b.start);
  return { segments, pieces, histories };
}
