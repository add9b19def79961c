/**
 * A bound on password hashing. Each login check costs one scrypt (~0.4 s and 64 MiB), run on
 * libuv's small thread pool; without a bound, a flood of login attempts queues hashes without
 * limit and a real admin waits behind them. The gate runs at most `concurrency` hashes at once,
 * lets each client address hold at most `perAddress` places (running or waiting), and refuses at
 * once when `maxWaiting` are already waiting: a flood is turned away cheaply, and one address
 * cannot take the places others need.
 */
export interface HashGateOptions {
  /** Hashes at once (default 2: the thread pool also serves file I/O). */
  concurrency?: number;
  /** Places (running + waiting) one address may hold (default 2). */
  perAddress?: number;
  /** Waiting attempts beyond which new ones are refused (default 16). */
  maxWaiting?: number;
}

export class HashGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly held = new Map<string, number>();
  private readonly o: Required<HashGateOptions>;

  constructor(options: HashGateOptions = {}) {
    this.o = {
      concurrency: options.concurrency ?? 2,
      perAddress: options.perAddress ?? 2,
      maxWaiting: options.maxWaiting ?? 16,
    };
  }

  /**
   * Runs `fn` when a place is free; resolves `{ refused: true }` at once (without running it)
   * when the address already holds its places or too many wait.
   */
  async run<T>(
    address: string,
    fn: () => Promise<T>,
  ): Promise<{ refused: true } | { refused: false; value: T }> {
    const mine = this.held.get(address) ?? 0;
    if (mine >= this.o.perAddress) return { refused: true };
    if (this.running >= this.o.concurrency && this.waiting.length >= this.o.maxWaiting)
      return { refused: true };
    this.held.set(address, mine + 1);
    try {
      if (this.running >= this.o.concurrency)
        await new Promise<void>((resolve) => this.waiting.push(resolve));
      else this.running++;
      try {
        return { refused: false, value: await fn() };
      } finally {
        const next = this.waiting.shift();
        if (next)
          next(); // the place passes straight to the next waiter
        else this.running--;
      }
    } finally {
      const n = (this.held.get(address) ?? 1) - 1;
      if (n <= 0) this.held.delete(address);
      else this.held.set(address, n);
    }
  }
}
