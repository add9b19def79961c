/**
 * The time a new restore point is stamped with. Points are ordered by time: "the newest point" is
 * what `restore` takes by default, an incremental's parent, and what `--at` counts back from. If
 * the machine's clock is stepped back (NTP correcting it, an operator, a restored VM), a point
 * stamped with the clock would sort before points taken earlier, and `restore` would silently bring
 * back the older data. So a new point is never stamped at or before the newest one already there:
 * while the clock is behind, points get the newest time plus a millisecond each, in the order they
 * were taken (`status` warns while the clock is behind the repository).
 */
import type { CatalogEntry } from './types.js';

/**
 * `wallMs`, or one millisecond after the newest of `points` when the clock is not past it.
 * `points` are the points the new one is ordered among (one source's, or all for a point set).
 */
export function pointTimeAfter(points: Pick<CatalogEntry, 'time'>[], wallMs: number): number {
  let newest = -Infinity;
  for (const p of points) {
    const t = Date.parse(p.time);
    if (t > newest) newest = t;
  }
  return wallMs > newest ? wallMs : newest + 1;
}

/** How far the clock is behind the newest point (ms; 0 when it is not). */
export function clockBehindMs(points: Pick<CatalogEntry, 'time'>[], wallMs: number): number {
  const after = pointTimeAfter(points, wallMs);
  return after === wallMs ? 0 : after - 1 - wallMs;
}
