/**
 * A small seeded PRNG (mulberry32: fast, 2^32 period) for synthetic data that must be repeatable
 * from a seed: the demo shop and the benchmark data. Never used for anything secret (passwords and
 * keys come from node:crypto).
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** `length` characters from [0-9A-Za-z]. */
  base62(length: number): string;
  /** `length` lower-case hex characters. */
  hex(length: number): string;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A mulberry32 generator; only the low 32 bits of `seed` matter. */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const chars = (alphabet: string, length: number): string => {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)];
    return s;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    base62: (length) => chars(BASE62, length),
    hex: (length) => chars('0123456789abcdef', length),
  };
}

/** Derives an independent seed for a sub-stream (e.g. one table or one file) from a base seed. */
export function deriveSeed(seed: number, stream: number): number {
  // splitmix32-style mixing so that neighbouring (seed, stream) pairs give unrelated sequences.
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(stream >>> 0, 0x85ebca6b) + 0x7f4a7c15) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
