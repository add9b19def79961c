/**
 * The report every store's prune fills in, and its bookkeeping: one place, so SQLite and
 * PostgreSQL report cut-offs and counts the same way.
 */
import { isoUtc } from '../../util/time.js';
import type { PruneOptions, PruneReport } from './types.js';

/** A fresh report for `categories`, with each category's cut-off and a counter of deleted rows. */
export function startPruneReport(
  categories: string[],
  options: PruneOptions,
): { report: PruneReport; cutoffOf: (c: string) => number; count: (c: string, n: number) => void } {
  const cutoffOf = (c: string) => options.cutoffs[c] ?? options.defaultCutoff;
  const report: PruneReport = {
    dryRun: Boolean(options.dryRun),
    categories: {},
    total: 0,
    batches: 0,
    longestBatchMs: 0,
  };
  for (const c of categories) report.categories[c] = { cutoff: isoUtc(cutoffOf(c)), deleted: 0 };
  const count = (c: string, n: number) => {
    const entry = (report.categories[c] ??= { cutoff: isoUtc(cutoffOf(c)), deleted: 0 });
    entry.deleted += n;
    report.total += n;
  };
  return { report, cutoffOf, count };
}
