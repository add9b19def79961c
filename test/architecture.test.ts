/**
 * The direction of imports in docs/ARCHITECTURE.md, enforced: every relative import in src/ is
 * checked against the layer rules, so a shortcut from a low layer to a high one fails the build.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Which layers each layer may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  foundation: [],
  config: ['foundation'],
  log: ['foundation', 'config'],
  schedule: ['foundation', 'config'],
  'backup/storage': ['foundation', 'config'],
  'backup/crypto': ['foundation', 'config'],
  'backup/repo': ['foundation', 'config', 'backup/storage', 'backup/crypto'],
  'backup/sources': [
    'foundation',
    'config',
    'backup/storage',
    'backup/crypto',
    'backup/repo',
    'backup',
    'log',
  ],
  backup: [
    'foundation',
    'config',
    'backup/storage',
    'backup/crypto',
    'backup/repo',
    'backup/sources',
    'schedule',
    'log',
  ],
  web: ['foundation', 'config', 'log'],
  integrations: ['foundation', 'config', 'log'],
  server: ['*'],
  cli: ['*'],
  demo: ['*'],
  index: ['*'],
};

function layerOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep).join('/');
  if (rel === 'index.ts') return 'index';
  for (const l of ['backup/storage', 'backup/crypto', 'backup/repo', 'backup/sources'])
    if (rel.startsWith(l + '/')) return l;
  const top = rel.split('/')[0]!;
  if (['util', 'errors.ts', 'clock.ts', 'version.ts'].includes(top)) return 'foundation';
  return top;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('architecture', () => {
  it('imports only go down the layers of docs/ARCHITECTURE.md', () => {
    const violations: string[] = [];
    let checked = 0;
    for (const file of walk(SRC)) {
      const from = layerOf(file);
      const allowed = ALLOWED[from];
      expect(allowed, `no layer rule for ${from} (${file})`).toBeDefined();
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g,
      )) {
        const spec = m[1] ?? m[2]!;
        const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
        const to = layerOf(target);
        checked++;
        if (to === from || allowed!.includes('*') || allowed!.includes(to)) continue;
        violations.push(`${path.relative(SRC, file)} (${from}) imports ${spec} (${to})`);
      }
    }
    expect(checked).toBeGreaterThan(200); // the scan really saw the imports
    expect(violations).toEqual([]);
  });
});
