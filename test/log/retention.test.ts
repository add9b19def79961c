import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { resolveConfig } from '../../src/config/index.js';
import { retentionCutoffs } from '../../src/log/retention.js';

const DAY = 86_400_000;

describe('retention cutoffs', () => {
  it('turns the configured days into per-category cutoffs at the clock’s time', () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 26));
    const config = resolveConfig(
      { logs: { retention: { email: 120, default: 100 } } },
      { file: null, baseDir: '/shop', env: {} },
    );
    const plan = retentionCutoffs(config.logs.retention, clock.now());
    expect(plan.cutoffs.payment).toBe(clock.now() - 365 * DAY);
    expect(plan.cutoffs.order).toBe(clock.now() - 365 * DAY);
    expect(plan.cutoffs.webhook).toBe(clock.now() - 365 * DAY);
    expect(plan.cutoffs.email).toBe(clock.now() - 120 * DAY);
    expect(plan.defaultCutoff).toBe(clock.now() - 100 * DAY);
    expect(plan.cutoffs.default).toBeUndefined();
    expect(plan.days).toMatchObject({ default: 100, email: 120, payment: 365 });
    clock.advance(10 * DAY);
    expect(retentionCutoffs(config.logs.retention, clock.now()).cutoffs.email).toBe(
      plan.cutoffs.email! + 10 * DAY,
    );
  });
});
