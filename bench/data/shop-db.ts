/**
 * The benchmark shop database of DESIGN.md §7: a ~1 GiB SQLite file in WAL mode with products, orders,
 * order items, payments (with the raw webhook body) and inventory movements, built deterministically from
 * a seed so every run and every machine benchmarks the same bytes.
 *
 *   npx tsx bench/data/shop-db.ts --out bench/.data/shop.sqlite [--scale 1] [--seed 1] [--pristine FILE]
 *   npx tsx bench/data/shop-db.ts change --db bench/.data/shop.sqlite [--seed 2] [--scale 1]
 *
 * `scale` multiplies every row count (0.01 builds a ~10 MB database in well under a second for tests).
 */
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { createRng, deriveSeed, type Rng } from '../lib/prng.js';

export interface ShopDbOptions {
  seed: number;
  /** Multiplies every row count; 1 = the full ~1 GiB database. */
  scale: number;
}

export interface ShopDbStats {
  path: string;
  bytes: number;
  products: number;
  orders: number;
  ms: number;
}

/** Row counts at scale 1 (DESIGN.md §7). */
export const FULL_SCALE = {
  products: 20_000,
  orders: 1_400_000,
  itemsPerOrder: 3,
  movementsPerOrder: 3,
  /** The "1% changed" workload. */
  statusUpdates: 13_000,
  newOrders: 5_000,
} as const;

// Orders are spread evenly over two fixed years (never "now": the data must not depend on the clock).
const FIRST_ORDER_MS = Date.UTC(2024, 6, 1);
const LAST_ORDER_MS = Date.UTC(2026, 6, 1);
// Rows per transaction: big enough that commits cost nothing, small enough to keep memory flat.
const ORDERS_PER_TRANSACTION = 20_000;

const SCHEMA = `
CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  sku TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  price_cents INTEGER NOT NULL,
  stock INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  status TEXT NOT NULL,
  total_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  created_at TEXT NOT NULL,
  shipping_address TEXT NOT NULL
);
CREATE TABLE order_items (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity INTEGER NOT NULL,
  unit_price_cents INTEGER NOT NULL
);
CREATE TABLE payments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  provider TEXT NOT NULL,
  provider_ref TEXT NOT NULL,
  amount_cents INTEGER NOT NULL,
  status TEXT NOT NULL,
  raw_webhook TEXT NOT NULL
);
CREATE TABLE inventory_movements (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products(id),
  order_id INTEGER REFERENCES orders(id),
  delta INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX orders_created_at ON orders(created_at);
CREATE INDEX order_items_order_id ON order_items(order_id);
CREATE INDEX payments_order_id ON payments(order_id);
`;

const WORDS = (
  'soft organic cotton shirt linen blend classic fit slim relaxed summer winter warm cosy handmade ' +
  'ceramic mug coffee tea kitchen garden outdoor waterproof jacket leather wallet travel bag canvas ' +
  'recycled bottle steel glass wooden board natural oil scented candle lavender vanilla gift set for ' +
  'everyday use with a durable finish and easy care machine washable made in small batches by our ' +
  'partners premium quality comfortable lightweight colour black white navy olive sand grey red blue'
).split(' ');
const FIRST_NAMES = 'anna ben clara david emma felix greta hugo ida jonas lena max nina oskar paula'.split(
  ' ',
);
const LAST_NAMES = 'mueller schmidt schneider fischer weber meyer wagner becker hoffmann koch bauer'.split(
  ' ',
);
const DOMAINS = ['example.com', 'mail.example', 'shop-customer.test', 'post.example.org'];
const STREETS = ['Hauptstrasse', 'Bahnhofstrasse', 'Gartenweg', 'Lindenallee', 'Schulstrasse', 'Bergstrasse'];
const CITIES = ['10115 Berlin', '20095 Hamburg', '80331 Muenchen', '50667 Koeln', '60311 Frankfurt'];
const STATUSES = ['paid', 'paid', 'shipped', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled'];
const NEW_STATUSES = ['shipped', 'delivered', 'refunded', 'cancelled', 'returned'];

function sentence(rng: Rng, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(rng.pick(WORDS));
  return out.join(' ');
}

/** A Stripe-like `payment_intent.succeeded` event body, ~400 bytes, as it arrived on the wire. */
function webhookBody(rng: Rng, orderId: number, amount: number, createdSec: number, ref: string): string {
  return JSON.stringify({
    id: `evt_${rng.base62(24)}`,
    object: 'event',
    api_version: '2024-06-20',
    created: createdSec,
    type: 'payment_intent.succeeded',
    data: {
      object: {
        id: ref,
        amount,
        currency: 'eur',
        status: 'succeeded',
        customer: `cus_${rng.base62(14)}`,
        payment_method: `pm_${rng.base62(14)}`,
        metadata: { order_id: String(orderId) },
      },
    },
    request: { id: `req_${rng.base62(14)}` },
  });
}

interface Statements {
  order: Database.Statement;
  item: Database.Statement;
  payment: Database.Statement;
  movement: Database.Statement;
}

function prepare(db: Database.Database): Statements {
  return {
    order: db.prepare(
      'INSERT INTO orders (id, email, status, total_cents, currency, created_at, shipping_address) VALUES (?,?,?,?,?,?,?)',
    ),
    item: db.prepare(
      'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES (?,?,?,?)',
    ),
    payment: db.prepare(
      'INSERT INTO payments (order_id, provider, provider_ref, amount_cents, status, raw_webhook) VALUES (?,?,?,?,?,?)',
    ),
    movement: db.prepare(
      'INSERT INTO inventory_movements (product_id, order_id, delta, reason) VALUES (?,?,?,?)',
    ),
  };
}

/** Inserts one order with its items, payment and inventory movements (caller holds the transaction). */
function insertOrder(
  st: Statements,
  rng: Rng,
  orderId: number,
  createdMs: number,
  status: string,
  products: number,
): void {
  const createdAt = new Date(createdMs).toISOString();
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const email = `${first}.${last}${rng.int(1, 9999)}@${rng.pick(DOMAINS)}`;
  const address = `${first} ${last}, ${rng.pick(STREETS)} ${rng.int(1, 200)}, ${rng.pick(CITIES)}, DE`;
  const lines: Array<[number, number, number]> = [];
  let total = 0;
  for (let i = 0; i < FULL_SCALE.itemsPerOrder; i++) {
    const productId = rng.int(1, products);
    const qty = rng.int(1, 4);
    const price = 500 + ((productId * 7919) % 19_500); // stable per product
    lines.push([productId, qty, price]);
    total += qty * price;
  }
  st.order.run(orderId, email, status, total, 'EUR', createdAt, address);
  for (const [productId, qty, price] of lines) st.item.run(orderId, productId, qty, price);
  const ref = `pi_${rng.base62(24)}`;
  const body = webhookBody(rng, orderId, total, Math.floor(createdMs / 1000), ref);
  st.payment.run(orderId, 'stripe', ref, total, 'succeeded', body); // paid at: the webhook's `created`
  for (const [productId, qty] of lines) st.movement.run(productId, orderId, -qty, 'sale');
}

function scaled(count: number, scale: number): number {
  return Math.max(1, Math.round(count * scale));
}

function validate(opts: ShopDbOptions): void {
  if (!Number.isInteger(opts.seed)) throw new Error(`seed must be an integer, got ${opts.seed}`);
  if (!(opts.scale > 0 && opts.scale <= 10)) throw new Error(`scale must be in (0, 10], got ${opts.scale}`);
}

/**
 * Builds the shop database at `path` (replacing any file there). Built in a side file with journaling
 * off (nothing to recover if the build dies: it is rebuilt), then switched to WAL mode like a live shop
 * and renamed into place, so a half-built file never sits at `path`.
 */
export function buildShopDb(path: string, opts: ShopDbOptions): ShopDbStats {
  validate(opts);
  const started = performance.now();
  const building = `${path}.building`;
  for (const p of [building, `${building}-wal`, `${building}-shm`]) rmSync(p, { force: true });
  const db = new Database(building);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144'); // 256 MiB: index pages stay hot while appending
  db.exec(SCHEMA);

  const productCount = scaled(FULL_SCALE.products, opts.scale);
  const orderCount = scaled(FULL_SCALE.orders, opts.scale);

  const productRng = createRng(deriveSeed(opts.seed, 1));
  const insertProduct = db.prepare(
    'INSERT INTO products (id, sku, name, description, price_cents, stock, created_at) VALUES (?,?,?,?,?,?,?)',
  );
  db.transaction(() => {
    for (let id = 1; id <= productCount; id++) {
      const name = sentence(productRng, 3);
      const description = `${sentence(productRng, productRng.int(40, 120))}.`;
      const created = new Date(FIRST_ORDER_MS - productRng.int(1, 400) * 86_400_000).toISOString();
      insertProduct.run(
        id,
        `SKU-${String(id).padStart(6, '0')}`,
        name,
        description,
        500 + ((id * 7919) % 19_500),
        productRng.int(0, 500),
        created,
      );
    }
  })();

  const st = prepare(db);
  const orderRng = createRng(deriveSeed(opts.seed, 2));
  const step = (LAST_ORDER_MS - FIRST_ORDER_MS) / orderCount;
  const insertChunk = db.transaction((from: number, to: number) => {
    for (let id = from; id <= to; id++) {
      const createdMs = Math.floor(FIRST_ORDER_MS + (id - 1) * step + orderRng.next() * step);
      insertOrder(st, orderRng, id, createdMs, orderRng.pick(STATUSES), productCount);
    }
  });
  for (let from = 1; from <= orderCount; from += ORDERS_PER_TRANSACTION) {
    insertChunk(from, Math.min(orderCount, from + ORDERS_PER_TRANSACTION - 1));
  }
  db.pragma('journal_mode = WAL');
  db.close();
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
  renameSync(building, path);
  return {
    path,
    bytes: statSync(path).size,
    products: productCount,
    orders: orderCount,
    ms: performance.now() - started,
  };
}

export interface ChangeStats {
  updated: number;
  inserted: number;
  ms: number;
}

/**
 * The "1% changed" workload of DESIGN.md §7, through SQLite like the shop would (WAL, foreign keys on):
 * 13,000 status updates on random existing orders (scattered over the whole file) and 5,000 new orders
 * with items, payments and movements, both times `scale`.
 */
export function applyOnePercentChange(path: string, opts: ShopDbOptions): ChangeStats {
  validate(opts);
  if (!existsSync(path)) throw new Error(`no shop database at ${path}; build it first with buildShopDb`);
  const started = performance.now();
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    const rng = createRng(deriveSeed(opts.seed, 3));
    const { maxId, lastMs, products } = db
      .prepare(
        `SELECT (SELECT max(id) FROM orders) AS maxId, (SELECT max(created_at) FROM orders) AS lastMs,
                (SELECT count(*) FROM products) AS products`,
      )
      .get() as { maxId: number; lastMs: string; products: number };
    const updates = scaled(FULL_SCALE.statusUpdates, opts.scale);
    const inserts = scaled(FULL_SCALE.newOrders, opts.scale);
    const update = db.prepare('UPDATE orders SET status = ? WHERE id = ?');
    db.transaction(() => {
      for (let i = 0; i < updates; i++) update.run(rng.pick(NEW_STATUSES), rng.int(1, maxId));
    })();
    const st = prepare(db);
    let t = Date.parse(lastMs);
    db.transaction(() => {
      for (let i = 1; i <= inserts; i++) {
        t += rng.int(1_000, 60_000);
        insertOrder(st, rng, maxId + i, t, 'paid', products);
      }
    })();
    return { updated: updates, inserted: inserts, ms: performance.now() - started };
  } finally {
    db.close();
  }
}

function humanBytes(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function main(argv: string[]): void {
  const change = argv[0] === 'change';
  const { values } = parseArgs({
    args: change ? argv.slice(1) : argv,
    options: {
      out: { type: 'string' },
      db: { type: 'string' },
      seed: { type: 'string', default: change ? '2' : '1' },
      scale: { type: 'string', default: '1' },
      pristine: { type: 'string' },
    },
  });
  const opts = { seed: Number(values.seed), scale: Number(values.scale) };
  if (change) {
    const path = values.db ?? 'bench/.data/shop.sqlite';
    const s = applyOnePercentChange(path, opts);
    console.log(
      `changed ${path}: ${s.updated} updates, ${s.inserted} new orders in ${(s.ms / 1000).toFixed(1)} s`,
    );
    return;
  }
  const out = values.out ?? 'bench/.data/shop.sqlite';
  const s = buildShopDb(out, opts);
  console.log(
    `built ${out}: ${humanBytes(s.bytes)}, ${s.products} products, ${s.orders} orders in ${(s.ms / 1000).toFixed(1)} s`,
  );
  if (values.pristine) {
    copyFileSync(out, values.pristine); // safe: the database is closed and checkpointed (no -wal file)
    console.log(`pristine copy at ${values.pristine}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
