/**
 * Retention as a pure function: per-category days and "now" in, per-category cutoffs out.
 * The store deletes entries older than their cutoff (in bounded batches, see LogStore.prune).
 */
import type { PruneOptions } from './store/types.js';

const DAY_MS = 86_400_000;

export interface RetentionPlan {
  /** Cutoff (ms) per category named in the rules. */
  cutoffs: Record<string, number>;
  /** Cutoff for every other category (the `default` rule). */
  defaultCutoff: number;
  /** Days kept per category named in the rules, plus `default`. */
  days: Record<string, number>;
}

/**
 * Cutoffs for `retention` (days per category plus `default`, as resolved by the config loader,
 * floors already enforced) at time `now`: entries with a timestamp before the cutoff expire.
 */
export function retentionCutoffs(retention: Record<string, number>, now: number): RetentionPlan {
  const defaultDays = retention.default ?? 90;
  const cutoffs: Record<string, number> = {};
  const days: Record<string, number> = { default: defaultDays };
  for (const [category, d] of Object.entries(retention)) {
    if (category === 'default') continue;
    cutoffs[category] = now - d * DAY_MS;
    days[category] = d;
  }
  return { cutoffs, defaultCutoff: now - defaultDays * DAY_MS, days };
}

/** The plan as store prune options. */
export function pruneOptions(
  plan: RetentionPlan,
  extra: Omit<PruneOptions, 'cutoffs' | 'defaultCutoff'> = {},
): PruneOptions {
  return { cutoffs: plan.cutoffs, defaultCutoff: plan.defaultCutoff, ...extra };
}
