/**
 * Time, injected. Everything that depends on "now" (scheduler, retention, batching, RPO figures)
 * takes a Clock so tests can drive days and months without sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private current: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current;
  }
  /** Jump to an absolute time (ms or Date). */
  set(to: number | Date): void {
    this.current = typeof to === 'number' ? to : to.getTime();
  }
  /** Move forward by `ms`. */
  advance(ms: number): void {
    this.current += ms;
  }
}
