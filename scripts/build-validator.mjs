// Writes Ajv's standalone validator of the config schema into dist/ (see src/config/schema-validator.ts).
import { writeFileSync } from 'node:fs';
import { BUILT_VALIDATOR, standaloneValidatorSource } from '../dist/config/schema-validator.js';
writeFileSync(new URL(`../dist/config/${BUILT_VALIDATOR}`, import.meta.url), standaloneValidatorSource());
