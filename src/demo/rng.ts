/**
 * The demo shop's randomness: the seeded PRNG of src/util/rng.ts, so `demo init` and
 * `demo activity --seed N` are repeatable (tests, screenshots), and a random seed otherwise.
 */
import { randomInt } from 'node:crypto';

export { createRng, type Rng } from '../util/rng.js';

/** A random seed, for runs that were not given one. */
export function randomSeed(): number {
  return randomInt(1, 2 ** 31 - 1);
}
