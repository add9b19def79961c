/** The 401/403 burst counter: threshold, one warning per window, window expiry, bounded memory. */
import { describe, expect, it } from 'vitest';
import { BurstCounter } from '../../src/integrations/burst.js';

describe('BurstCounter', () => {
  it('reports once per window per address, again after the window, and forgets the oldest address first', () => {
    let now = 0;
    const c = new BurstCounter({ threshold: 3, windowMs: 1000, maxAddresses: 3, now: () => now });
    const hits = (ip: string, n: number) => Array.from({ length: n }, () => c.hit(ip)).filter(Boolean).length;
    expect(hits('a', 2)).toBe(0);
    expect(c.hit('a')).toEqual({ count: 3, windowMs: 1000 });
    expect(hits('a', 10)).toBe(0);
    now = 1000;
    expect(hits('a', 3)).toBe(1);
    for (const ip of ['b', 'c', 'd', 'e']) c.hit(ip);
    expect(c.size).toBe(3);
    // "a" was the least recently seen and is forgotten: it starts from zero again.
    expect(hits('a', 2)).toBe(0);
    expect(c.size).toBe(3);
    for (let i = 0; i < 50_000; i++) c.hit(`10.0.${i >> 8}.${i & 255}`);
    expect(c.size).toBe(3);
  });

  it('refuses thresholds that cannot work', () => {
    expect(() => new BurstCounter({ threshold: 0 })).toThrow(RangeError);
    expect(() => new BurstCounter({ windowMs: -1 })).toThrow(RangeError);
  });
});
