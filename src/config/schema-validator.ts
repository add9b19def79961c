/**
 * The validator of `safetynet.config.json` against its schema (schema.ts). Compiling it with Ajv
 * took ~60 ms at every start of the CLI, a quarter of its start-up (0.25-0.29 s; 0.19-0.23 s
 * without it), and a `restore db` of 1 GB takes 2.2 s in all. So the build writes Ajv's
 * standalone code for it once (scripts/build-validator.mjs: dist/config/schema-validator.cjs) and
 * the built CLI only loads that; run from source (tests, tsx) there is no such file and it is
 * compiled here, with the same options. A test checks that the built file is what the schema
 * compiles to today.
 */
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import { configSchema } from './schema.js';

/** Ajv's options for the config: defaults filled in, every error reported, unknown keywords allowed. */
export const AJV_OPTIONS = { useDefaults: true, allErrors: true, strict: false } as const;

/** The built validator's file name, beside this module in dist/config/. */
export const BUILT_VALIDATOR = 'schema-validator.cjs';

const require = createRequire(import.meta.url);
let validate: ValidateFunction | undefined;

/** The config schema's validator: the built one if there is one, else compiled now. */
export function configValidator(): ValidateFunction {
  if (validate) return validate;
  try {
    validate = require(`./${BUILT_VALIDATOR}`) as ValidateFunction;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    const { Ajv } = require('ajv') as typeof import('ajv');
    validate = new Ajv(AJV_OPTIONS).compile(configSchema);
  }
  return validate;
}

/** Ajv's standalone code (CommonJS) for the config schema: what the build writes. */
export function standaloneValidatorSource(): string {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standaloneCode = (
    require('ajv/dist/standalone/index.js') as { default: (ajv: unknown, v: unknown) => string }
  ).default;
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  return standaloneCode(ajv, ajv.compile(configSchema));
}
