/**
 * Wall-clock phases of a base backup or a restore, reported in `--json` (`phases`) so a benchmark
 * can say where the time went (fetch, extraction, WAL, server start, recovery, readiness) instead
 * of one total. Phases may overlap (the base and the WAL are fetched at once): each is its own span.
 */
export class Phases {
  readonly ms: Record<string, number> = {};
  private last = performance.now();

  /** Records the time since the previous lap (or the start) as `name`. */
  lap(name: string): void {
    const now = performance.now();
    this.add(name, now - this.last);
    this.last = now;
  }

  /** Runs `fn` and records its duration as `name` (spans may overlap; laps are unaffected). */
  async span<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.add(name, performance.now() - t);
    }
  }

  /** Adds `ms` to `name`. */
  add(name: string, ms: number): void {
    this.ms[name] = Math.round((this.ms[name] ?? 0) + ms);
  }

  /** Restarts the lap clock (after spans that ran in parallel). */
  resetLap(): void {
    this.last = performance.now();
  }
}
