/**
 * Storage key rules, shared by every backend so that a key valid on one is valid on all.
 *
 * A key is a "/"-separated relative path. Segments starting with "." are reserved for the
 * backends' own temporary and probe objects (the local backend keeps temp files in ".tmp/"), so a
 * listing never shows half-written data. Keys are limited to what both a POSIX file system and S3
 * store without surprises.
 */
import { StorageError } from '../../errors.js';
import { StorageCode } from './errors.js';

/** S3's own limit on key length; local paths stay well inside PATH_MAX with it. */
const MAX_KEY_BYTES = 1024;

// Control characters, DEL and backslash (a path separator on Windows, an escape in many tools).
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

function badKey(what: string, value: string, why: string): StorageError {
  return new StorageError(StorageCode.badKey, `invalid storage ${what} ${JSON.stringify(value)}: ${why}`, {
    hint: 'this is a bug in the caller: keys are "/"-separated, without empty, "." or ".." segments, control characters or backslashes',
    details: { [what]: value },
  });
}

function checkSegments(what: string, value: string, segments: string[]): void {
  for (const s of segments) {
    if (s === '') throw badKey(what, value, 'it has an empty segment (leading, trailing or double "/")');
    if (s.startsWith('.')) throw badKey(what, value, 'segments starting with "." are reserved');
  }
}

/** Throws E_STORAGE_BAD_KEY unless `key` is a valid object key. */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw badKey('key', String(key), 'it is empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw badKey('key', key, `it is longer than ${MAX_KEY_BYTES} bytes`);
  if (FORBIDDEN.test(key)) throw badKey('key', key, 'it contains a control character or a backslash');
  checkSegments('key', key, key.split('/'));
}

/**
 * Throws E_STORAGE_BAD_KEY unless `prefix` is a valid list prefix: "" (everything), or a key
 * prefix that may end in "/" or in the middle of a segment ("data/a" matches "data/ab/…").
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw badKey('prefix', String(prefix), 'it is not a string');
  if (prefix === '') return;
  if (Buffer.byteLength(prefix) > MAX_KEY_BYTES) throw badKey('prefix', prefix, `it is too long`);
  if (FORBIDDEN.test(prefix))
    throw badKey('prefix', prefix, 'it contains a control character or a backslash');
  const segments = prefix.split('/');
  // The last segment may be empty ("data/") or partial ("data/a").
  const last = segments.pop() ?? '';
  checkSegments('prefix', prefix, segments);
  if (last.startsWith('.')) throw badKey('prefix', prefix, 'segments starting with "." are reserved');
}

/** True when a listed relative key lies in the reserved "."-namespace (never shown to callers). */
export function isReservedKey(key: string): boolean {
  return key.startsWith('.') || key.includes('/.');
}

/** Byte-wise (UTF-8) comparison: the order S3 lists keys in, which JavaScript's `<` does not give for astral characters. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
