/**
 * Deterministic synthetic log entries for the logging benchmarks (DESIGN.md §7): every category
 * and level, about 5% with an order id, about 1% errors with a stack, short realistic messages.
 */
import { createRng, type Rng } from '../lib/prng.js';
import type { Level } from '../../src/log/types.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { BUILTIN_CATEGORIES } from '../../src/config/schema.js';

/** The built-in categories, in the order CATEGORY_WEIGHTS follows. */
export const CATEGORIES = BUILTIN_CATEGORIES;

// Rough shop mix: orders, payments, inventory and emails dominate.
const CATEGORY_WEIGHTS = [6, 14, 18, 6, 16, 3, 12, 3, 5, 2, 15];
const WORDS = [
  'checkout',
  'cart',
  'refund',
  'shipping',
  'coupon',
  'stock',
  'invoice',
  'customer',
  'warehouse',
  'label',
  'timeout',
  'retry',
  'gateway',
  'session',
  'export',
  'import',
  'price',
  'tax',
  'discount',
  'newsletter',
];

export interface SynthEntry {
  level: Level;
  category: string;
  message: string;
  details: Record<string, unknown> | undefined;
  orderId: string | undefined;
  /** Set for ~1% of entries: an error with a stack. */
  stack: string | undefined;
}

function pickWeighted(rng: Rng): string {
  const total = CATEGORY_WEIGHTS.reduce((a, b) => a + b, 0);
  let x = rng.next() * total;
  for (let i = 0; i < CATEGORIES.length; i++) {
    x -= CATEGORY_WEIGHTS[i]!;
    if (x < 0) return CATEGORIES[i]!;
  }
  return 'system';
}

const STACK = (fn: string, n: number) =>
  `Error: ${fn} failed after ${n} attempts\n    at ${fn} (/srv/shop/dist/services/${fn}.js:${40 + (n % 200)}:17)\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)\n    at async OrderService.place (/srv/shop/dist/services/order.js:118:9)\n    at async Server.handler (/srv/shop/dist/http/routes.js:52:20)`;

/** A generator of entries from `seed`. */
export function entryStream(seed: number): () => SynthEntry {
  const rng = createRng(seed);
  let n = 0;
  return () => {
    n++;
    const category = pickWeighted(rng);
    const r = rng.next();
    const isError = r < 0.01;
    const level: Level = isError ? (rng.next() < 0.2 ? 'critical' : 'error') : r < 0.06 ? 'warn' : 'info';
    const orderId = rng.next() < 0.05 ? String(100000 + rng.int(0, 400000)) : undefined;
    const w1 = rng.pick(WORDS);
    const w2 = rng.pick(WORDS);
    const customer = `c${rng.int(1, 50000)}`;
    const message = `${category} ${w1} ${w2} for ${customer} ref ${rng.int(1, 100_000)}`;
    const details =
      rng.next() < 0.7
        ? { amount: rng.int(100, 99999) / 100, currency: 'EUR', customer, step: n % 7 }
        : undefined;
    return { level, category, message, details, orderId, stack: isError ? STACK(w1, n) : undefined };
  };
}

/** A synthetic entry as the store appends it, at `ts` (details as JSON text, absent fields null). */
export function appendRowOf(e: SynthEntry, ts: number): AppendRow {
  return {
    ts,
    level: e.level,
    category: e.category,
    message: e.message,
    details: e.details ? JSON.stringify(e.details) : '{}',
    orderId: e.orderId ?? null,
    errorStack: e.stack ?? null,
  };
}
