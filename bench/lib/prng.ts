/**
 * The seeded PRNG for benchmark data (the same one the demo uses): benchmarks must be repeatable from
 * a seed — the same data on every machine and every run — which Math.random() cannot give.
 */
export { createRng, deriveSeed, type Rng } from '../../src/util/rng.js';
