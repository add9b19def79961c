/**
 * Files restore points as the catalog shows them (plaintext: no decryption needed).
 */
import type { CatalogEntry, ObjectRef } from '../../repo/types.js';

export const FILES_SOURCE = 'files';

/** The files points among `points` (any order in, oldest first out). */
export function filesPoints(points: readonly CatalogEntry[]): CatalogEntry[] {
  return points
    .filter((p) => p.kind === 'files' && p.source === FILES_SOURCE)
    .sort((a, b) => (a.time === b.time ? (a.id < b.id ? -1 : 1) : a.time < b.time ? -1 : 1));
}

/** The set names a files point covers, from its catalog summary (no decryption needed). */
export function setsOf(entry: CatalogEntry): string[] {
  const s = entry.summary?.sets;
  return typeof s === 'string' && s !== '' ? s.split(',') : [];
}

/** Every pack the given points list, by key (the packs a new point may reuse). */
export function livePacks(points: readonly CatalogEntry[]): Map<string, ObjectRef> {
  const out = new Map<string, ObjectRef>();
  for (const p of filesPoints(points)) for (const o of p.objects) if (!out.has(o.key)) out.set(o.key, o);
  return out;
}

/** The newest point (per set name) that covers each set, among `points`. */
export function newestPerSet(points: readonly CatalogEntry[]): Map<string, CatalogEntry> {
  const out = new Map<string, CatalogEntry>();
  for (const p of filesPoints(points)) for (const s of setsOf(p)) out.set(s, p); // oldest first: later wins
  return out;
}
