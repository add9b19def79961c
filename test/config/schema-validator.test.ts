/**
 * The built CLI validates configs with Ajv's standalone code written at build time
 * (dist/config/schema-validator.cjs); run from source, the schema is compiled at load. Both must
 * say the same, and the built file must be what today's schema compiles to.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import {
  AJV_OPTIONS,
  BUILT_VALIDATOR,
  standaloneValidatorSource,
} from '../../src/config/schema-validator.js';
import { configSchema } from '../../src/config/schema.js';

const require = createRequire(import.meta.url);

describe('the config validator', () => {
  it('the built standalone validator is current and judges configs as the compiled schema does', () => {
    const source = standaloneValidatorSource();
    const built = path.join(import.meta.dirname, '..', '..', 'dist', 'config', BUILT_VALIDATOR);
    expect(readFileSync(built, 'utf8')).toBe(source); // `npm test` builds first
    // Evaluated as the CommonJS module it is, resolving its `require`s from here.
    const mod: { exports: unknown } = { exports: {} };
    new Function('require', 'module', 'exports', source)(require, mod, mod.exports);
    const standalone = mod.exports as ValidateFunction;
    const compiled = new Ajv(AJV_OPTIONS).compile(configSchema);
    const cases: unknown[] = [
      {},
      { logs: { store: { type: 'sqlite' } } },
      { backup: { retention: { daily: 'thirty' } } },
      { database: { type: 'mysql' } },
      { logs: { retention: { payments: -1 } }, nope: true },
    ];
    for (const c of cases) {
      const a = structuredClone(c);
      const b = structuredClone(c);
      expect(standalone(a)).toBe(compiled(b));
      expect(a).toEqual(b); // the same defaults filled in
      expect(standalone.errors ?? null).toEqual(compiled.errors ?? null);
    }
  });
});
