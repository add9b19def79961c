/**
 * Counts refused requests (401/403) per address in a fixed window and says when one address
 * crosses the threshold — once per window, so a brute-force run gives one warning a minute, not
 * one per request. Memory is bounded: at most `maxAddresses` are tracked; the least recently seen
 * address is forgotten first (a Map keeps insertion order; a hit re-inserts).
 */

export interface BurstOptions {
  /** Refused requests from one address within the window that make a burst (default 10). */
  threshold: number;
  /** Window length, ms (default 60 000). */
  windowMs: number;
  /** Addresses tracked at most (default 10 000). */
  maxAddresses: number;
  /** Time source, ms (default Date.now). */
  now: () => number;
}

interface Window {
  start: number;
  count: number;
  warned: boolean;
}

export class BurstCounter {
  private readonly o: BurstOptions;
  private readonly windows = new Map<string, Window>();

  constructor(options: Partial<BurstOptions>) {
    this.o = {
      threshold: options.threshold ?? 10,
      windowMs: options.windowMs ?? 60_000,
      maxAddresses: options.maxAddresses ?? 10_000,
      now: options.now ?? Date.now,
    };
    if (!(this.o.threshold >= 1) || !(this.o.windowMs > 0) || !(this.o.maxAddresses >= 1)) {
      throw new RangeError('safetynet: authFailures needs threshold ≥ 1, windowMs > 0, maxAddresses ≥ 1');
    }
  }

  /** Records one refusal; returns the burst the first time an address crosses the threshold in a window. */
  hit(address: string): { count: number; windowMs: number } | undefined {
    const now = this.o.now();
    let w = this.windows.get(address);
    if (w && now - w.start >= this.o.windowMs) w = undefined;
    if (!w) w = { start: now, count: 0, warned: false };
    this.windows.delete(address);
    this.windows.set(address, w);
    while (this.windows.size > this.o.maxAddresses) {
      this.windows.delete(this.windows.keys().next().value as string);
    }
    w.count++;
    if (!w.warned && w.count >= this.o.threshold) {
      w.warned = true;
      return { count: w.count, windowMs: this.o.windowMs };
    }
    return undefined;
  }

  /** How many addresses are tracked (for tests of the bound). */
  get size(): number {
    return this.windows.size;
  }
}
