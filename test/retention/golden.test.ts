/**
 * Golden retention cases over years of synthetic points. The expected keep sets (with reasons) live in
 * golden/*.json and were produced by the independent reference implementation; both planRetention and the
 * reference must match them. Regenerate after a deliberate change with UPDATE_GOLDEN=1 (then review the diff).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { planRetention } from '../../src/backup/retention-policy.js';
import { referenceRetention, type KeptMap } from './reference.js';
import { pointsHash, scenarios } from './scenarios.js';

const GOLDEN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');

interface Golden {
  scenario: string;
  description: string;
  timezone: string;
  policy: unknown;
  points: number;
  pointsSha256: string;
  keptCount: number;
  kept: KeptMap;
}

function sortedKept(kept: KeptMap): KeptMap {
  const out: KeptMap = {};
  for (const id of Object.keys(kept).sort()) out[id] = [...kept[id]!].sort();
  return out;
}

describe('planRetention golden cases', () => {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const points = scenario.points();
      const file = path.join(GOLDEN_DIR, `${scenario.name}.json`);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        const kept = sortedKept(referenceRetention(points, scenario.policy, scenario.timezone));
        const golden: Golden = {
          scenario: scenario.name,
          description: scenario.description,
          timezone: scenario.timezone,
          policy: scenario.policy,
          points: points.length,
          pointsSha256: pointsHash(points),
          keptCount: Object.keys(kept).length,
          kept,
        };
        // Written as prettier would, so `npm run format:check` stays green after a regeneration.
        const options = { ...(await resolveConfig(file)), parser: 'json' };
        writeFileSync(file, await format(JSON.stringify(golden), options));
        if (process.env.UPDATE_GOLDEN !== '1')
          throw new Error(`wrote missing golden file ${file}; review it and rerun`);
      }
      const golden = JSON.parse(readFileSync(file, 'utf8')) as Golden;
      expect(pointsHash(points), 'scenario generator changed: regenerate with UPDATE_GOLDEN=1').toBe(
        golden.pointsSha256,
      );

      const decisions = planRetention(points, scenario.policy, { timezone: scenario.timezone });
      expect(decisions.map((d) => d.id)).toEqual(points.map((p) => p.id));
      const kept: KeptMap = {};
      for (const d of decisions) if (d.keep) kept[d.id] = d.reasons;
      expect(sortedKept(kept)).toEqual(golden.kept);
      for (const d of decisions) if (!d.keep) expect(d.reasons).toHaveLength(1);

      expect(sortedKept(referenceRetention(points, scenario.policy, scenario.timezone))).toEqual(golden.kept);
    });
  }
});
