/**
 * Reading the tar stream of a base backup one part at a time. The server's archive is plain ustar:
 * directories and regular files with names under 100 bytes, no links (tablespaces, the only source
 * of symlinks, are refused by the backup). `planPart` turns one part's bytes, given where the
 * previous part left the stream (a small, cloneable `TarState`), into what to write — so the
 * headers are read in order while the writes of different parts run on different threads. A
 * general tar library reads a stream from start to end on one thread and would re-chunk every
 * byte through JavaScript streams; this needs none of its generality. Anything this reader does
 * not expect (links, pax or GNU headers, a path leaving the folder, a bad checksum) is refused.
 */
import * as path from 'node:path';
import { SafetynetError } from '../../../errors.js';

export const BLOCK = 512;

/** Where the stream stands between two parts (structured-cloneable: it crosses threads). */
export interface TarState {
  /** Bytes of a header read so far (a header may straddle two parts). */
  header: Uint8Array;
  headerFill: number;
  /** Bytes to skip before the next header (padding, directory bodies). */
  skip: number;
  /** The member whose data is being read. */
  file: { rel: string; mode: number; size: number; written: number } | null;
  /** The end-of-archive block was read. */
  ended: boolean;
  members: number;
  bytes: number;
}

/** One thing to do with a part's bytes, in order. */
export type TarOp =
  | { op: 'mkdir'; rel: string; mode: number }
  /**
   * Write `buf[from, to)` at `position` of file `rel` (created with `mode` if missing); `last`:
   * these are the file's last bytes.
   */
  | {
      op: 'write';
      rel: string;
      mode: number;
      position: number;
      from: number;
      to: number;
      create: boolean;
      last: boolean;
    };

export function initialTarState(): TarState {
  return {
    header: new Uint8Array(BLOCK),
    headerFill: 0,
    skip: 0,
    file: null,
    ended: false,
    members: 0,
    bytes: 0,
  };
}

/** Reads `buf` from `state` on; returns the operations it holds and the state after it. */
export function planPart(state: TarState, buf: Uint8Array): { ops: TarOp[]; state: TarState } {
  const s: TarState = {
    ...state,
    header: Uint8Array.from(state.header),
    file: state.file && { ...state.file },
  };
  const ops: TarOp[] = [];
  let off = 0;
  s.bytes += buf.length;
  while (off < buf.length && !s.ended) {
    if (s.file) {
      const f = s.file;
      const n = Math.min(f.size - f.written, buf.length - off);
      ops.push({
        op: 'write',
        rel: f.rel,
        mode: f.mode,
        position: f.written,
        from: off,
        to: off + n,
        create: f.written === 0,
        last: f.written + n === f.size,
      });
      f.written += n;
      off += n;
      if (f.written === f.size) {
        s.skip = padded(f.size) - f.size;
        s.file = null;
      }
      continue;
    }
    if (s.skip > 0) {
      const n = Math.min(s.skip, buf.length - off);
      s.skip -= n;
      off += n;
      continue;
    }
    const n = Math.min(BLOCK - s.headerFill, buf.length - off);
    s.header.set(buf.subarray(off, off + n), s.headerFill);
    s.headerFill += n;
    off += n;
    if (s.headerFill < BLOCK) continue;
    s.headerFill = 0;
    member(s, ops);
  }
  return { ops, state: s };
}

/** Starts the member whose header is in `s.header`. */
function member(s: TarState, ops: TarOp[]): void {
  const h = Buffer.from(s.header.buffer, s.header.byteOffset, BLOCK);
  if (h.every((b) => b === 0)) {
    s.ended = true;
    return;
  }
  if (!checksumOk(h)) throw formatError('a tar header of the base backup has a wrong checksum');
  const name = memberName(h);
  const type = String.fromCharCode(h[156]!);
  const size = tarNumber(h.subarray(124, 136));
  const mode = tarNumber(h.subarray(100, 108)) & 0o777;
  s.members++;
  if (type === '5' && /^(\.\/?)?$/.test(name)) {
    s.skip = padded(size); // the folder itself ("./")
    return;
  }
  const rel = safeRelative(name);
  if (type === '5') {
    ops.push({ op: 'mkdir', rel, mode: mode || 0o700 });
    s.skip = padded(size);
    return;
  }
  if (type !== '0' && type !== '\0') {
    throw formatError(
      `the base backup holds ${rel} of tar type '${type}', which safetynet does not restore (only files and directories)`,
    );
  }
  const file = { rel, mode: mode || 0o600, size, written: 0 };
  if (size === 0) {
    ops.push({ op: 'write', rel, mode: file.mode, position: 0, from: 0, to: 0, create: true, last: true });
    return;
  }
  s.file = file;
}

/** Checks that the stream ended where a tar ends; throws otherwise. */
export function checkTarEnd(state: TarState): void {
  if (state.file) throw formatError(`the base backup's tar stream ends inside ${state.file.rel}`);
  if (!state.ended) throw formatError("the base backup's tar stream ends without its end marker");
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** ustar name: `prefix/name` when the prefix field is used. */
function memberName(h: Buffer): string {
  const field = (from: number, to: number) => {
    const end = h.indexOf(0, from);
    return h.toString('utf8', from, end === -1 || end > to ? to : end);
  };
  const name = field(0, 100);
  const prefix = h.toString('latin1', 257, 262) === 'ustar' ? field(345, 500) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** A relative path without `.`/`..` segments; refuses absolute paths and escapes. */
function safeRelative(rel: string): string {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (rel.startsWith('/') || parts.includes('..') || parts.length === 0) {
    throw formatError(`the base backup holds a member named ${JSON.stringify(rel)} outside its folder`);
  }
  return parts.join(path.sep);
}

/** A numeric header field: octal text, or base-256 when the high bit of its first byte is set. */
export function tarNumber(field: Uint8Array): number {
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = Buffer.from(field).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]*$/.test(text))
    throw formatError(`a tar header of the base backup holds a bad number "${text}"`);
  return text ? parseInt(text, 8) : 0;
}

/** The header checksum: the sum of its bytes with the checksum field read as spaces. */
function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === tarNumber(h.subarray(148, 156));
}

export function formatError(message: string): SafetynetError {
  return new SafetynetError('E_PG_BACKUP_FORMAT', message, {
    hint: 'the point is not a tar stream safetynet can restore: run `safetynet verify --read-data` and restore another point',
  });
}
