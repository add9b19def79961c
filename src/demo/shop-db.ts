/**
 * The demo shop's database: an SQLite file in WAL mode with customers, products, orders,
 * order_items, payments (each with the raw webhook body, as a real shop keeps it) and
 * inventory_movements. The same operations serve the seeding in `demo init` and the live orders
 * of `demo activity`, so seeded and live rows look alike.
 */
import Database from 'better-sqlite3';
import { SafetynetError } from '../errors.js';
import { CATALOG } from './catalog.js';

export type ShopDb = Database.Database;

/** Stored in `PRAGMA user_version`, so a later demo can tell an older layout apart. */
export const SHOP_SCHEMA_VERSION = 1;

/** Stock below this triggers a low-stock warning (and, in the demo, a restock). */
export const LOW_STOCK = 5;

export const SHOP_TABLES = [
  'customers',
  'products',
  'orders',
  'order_items',
  'payments',
  'inventory_movements',
] as const;

const SCHEMA = `
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  street TEXT NOT NULL,
  city TEXT NOT NULL,
  country TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  sku TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  price_cents INTEGER NOT NULL CHECK (price_cents > 0),
  stock INTEGER NOT NULL CHECK (stock >= 0),
  image TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  status TEXT NOT NULL CHECK (status IN ('pending','paid','payment_failed','shipped','delivered','refunded')),
  total_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  shipping_address TEXT NOT NULL,
  invoice_number TEXT UNIQUE,
  tracking_number TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE order_items (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price_cents INTEGER NOT NULL
);
CREATE TABLE payments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  provider TEXT NOT NULL,
  provider_ref TEXT NOT NULL,
  event_id TEXT NOT NULL UNIQUE,
  amount_cents INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('succeeded','failed')),
  raw_webhook TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE TABLE inventory_movements (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products(id),
  order_id INTEGER REFERENCES orders(id),
  delta INTEGER NOT NULL,
  reason TEXT NOT NULL CHECK (reason IN ('restock','sale','release')),
  created_at TEXT NOT NULL
);
CREATE INDEX orders_created_at ON orders(created_at);
CREATE INDEX orders_status ON orders(status, updated_at);
CREATE INDEX order_items_order_id ON order_items(order_id);
CREATE INDEX payments_order_id ON payments(order_id);
CREATE INDEX inventory_movements_product ON inventory_movements(product_id, created_at);
`;

function setPragmas(db: ShopDb): void {
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // The scheduler's snapshots and checkpoints run in another process; wait for them, never fail.
  db.pragma('busy_timeout = 10000');
}

/** Creates an empty shop database (schema, catalogue) at `file`, which must not exist yet. */
export function createShopDb(file: string, createdAt: string): ShopDb {
  const db = new Database(file);
  try {
    setPragmas(db);
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SHOP_SCHEMA_VERSION}`);
    const insert = db.prepare(
      'INSERT INTO products (id, sku, name, price_cents, stock, image, created_at) VALUES (?,?,?,?,0,?,?)',
    );
    db.transaction(() => {
      CATALOG.forEach((p, i) => insert.run(i + 1, p.sku, p.name, p.priceCents, productImageName(p.sku), createdAt));
    })();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Opens an existing demo shop database for reading and writing; refuses anything else. */
export function openShopDb(file: string): ShopDb {
  let db: ShopDb;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (err) {
    throw new SafetynetError('E_DEMO_DB', `the demo shop database ${file} cannot be opened: ${(err as Error).message}`, {
      hint: 'run "safetynet demo init" first (npm start does), or point database.path at the demo database',
      cause: err,
    });
  }
  try {
    setPragmas(db);
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name),
    );
    const missing = SHOP_TABLES.filter((t) => !tables.has(t));
    if (missing.length) {
      throw new SafetynetError('E_DEMO_DB', `${file} is not the demo shop database (no table ${missing.join(', ')})`, {
        hint: 'the demo only writes into a database made by "safetynet demo init"; delete the demo folder to start over',
        exitCode: 2,
      });
    }
    return db;
  } catch (err) {
    db.close();
    if (err instanceof SafetynetError) throw err;
    throw new SafetynetError('E_DEMO_DB', `the demo shop database ${file} cannot be read: ${(err as Error).message}`, {
      hint: 'delete the demo folder to start over (npm start builds a new one)',
      cause: err,
    });
  }
}

/** The file name of a product's image inside the images folder. */
export function productImageName(sku: string): string {
  return `product-${sku.toLowerCase()}.png`;
}

export interface NewCustomer {
  email: string;
  name: string;
  street: string;
  city: string;
  country: string;
  createdAt: string;
}

export interface Customer extends NewCustomer {
  id: number;
}

/** Adds a customer; returns its id. */
export function insertCustomer(db: ShopDb, c: NewCustomer): number {
  const r = db
    .prepare('INSERT INTO customers (email, name, street, city, country, created_at) VALUES (?,?,?,?,?,?)')
    .run(c.email, c.name, c.street, c.city, c.country, c.createdAt);
  return Number(r.lastInsertRowid);
}

/** One customer by id. */
export function getCustomer(db: ShopDb, id: number): Customer | undefined {
  const row = db
    .prepare('SELECT id, email, name, street, city, country, created_at AS createdAt FROM customers WHERE id = ?')
    .get(id) as Customer | undefined;
  return row;
}

export interface ProductRow {
  id: number;
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

/** Every product with its current stock. */
export function listProducts(db: ShopDb): ProductRow[] {
  return db
    .prepare('SELECT id, sku, name, price_cents AS priceCents, stock FROM products ORDER BY id')
    .all() as ProductRow[];
}

/** Adds `quantity` to a product's stock, with its movement. */
export function restock(db: ShopDb, productId: number, quantity: number, at: string): number {
  return db.transaction(() => {
    db.prepare(
      "INSERT INTO inventory_movements (product_id, order_id, delta, reason, created_at) VALUES (?, NULL, ?, 'restock', ?)",
    ).run(productId, quantity, at);
    db.prepare('UPDATE products SET stock = stock + ? WHERE id = ?').run(quantity, productId);
    return (db.prepare('SELECT stock FROM products WHERE id = ?').get(productId) as { stock: number }).stock;
  })();
}

export interface OrderLine {
  productId: number;
  quantity: number;
}

export interface PlacedLine extends OrderLine {
  sku: string;
  name: string;
  unitPriceCents: number;
  /** The product's stock after this order took its share. */
  stockAfter: number;
}

export interface PlacedOrder {
  orderId: number;
  totalCents: number;
  lines: PlacedLine[];
}

/**
 * Places an order (status `pending`): the order, its items, and a `sale` movement per line that
 * takes the stock. Throws when a product lacks the stock (the CHECK on products.stock), leaving
 * nothing behind.
 */
export function placeOrder(
  db: ShopDb,
  o: { customerId: number; lines: OrderLine[]; createdAt: string; orderId?: number },
): PlacedOrder {
  return db.transaction(() => {
    const customer = getCustomer(db, o.customerId);
    if (!customer) throw new Error(`placeOrder: no customer ${o.customerId}`);
    const product = db.prepare('SELECT id, sku, name, price_cents AS priceCents FROM products WHERE id = ?');
    const priced = o.lines.map((l) => {
      const p = product.get(l.productId) as { sku: string; name: string; priceCents: number } | undefined;
      if (!p) throw new Error(`placeOrder: no product ${l.productId}`);
      return { ...l, sku: p.sku, name: p.name, unitPriceCents: p.priceCents };
    });
    const total = priced.reduce((s, l) => s + l.quantity * l.unitPriceCents, 0);
    const address = `${customer.name}, ${customer.street}, ${customer.city}, ${customer.country}`;
    const r = db
      .prepare(
        `INSERT INTO orders (id, customer_id, status, total_cents, currency, shipping_address, created_at, updated_at)
         VALUES (?, ?, 'pending', ?, 'EUR', ?, ?, ?)`,
      )
      .run(o.orderId ?? null, o.customerId, total, address, o.createdAt, o.createdAt);
    const orderId = Number(r.lastInsertRowid);
    const item = db.prepare('INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES (?,?,?,?)');
    const move = db.prepare(
      "INSERT INTO inventory_movements (product_id, order_id, delta, reason, created_at) VALUES (?, ?, ?, 'sale', ?)",
    );
    const take = db.prepare('UPDATE products SET stock = stock - ? WHERE id = ? RETURNING stock');
    const lines: PlacedLine[] = priced.map((l) => {
      item.run(orderId, l.productId, l.quantity, l.unitPriceCents);
      move.run(l.productId, orderId, -l.quantity, o.createdAt);
      const { stock } = take.get(l.quantity, l.productId) as { stock: number };
      return { ...l, stockAfter: stock };
    });
    return { orderId, totalCents: total, lines };
  })();
}

export interface PaymentRecord {
  orderId: number;
  provider: string;
  providerRef: string;
  eventId: string;
  amountCents: number;
  succeeded: boolean;
  rawWebhook: string;
  receivedAt: string;
}

/**
 * Stores a payment webhook's outcome: the payment row (with the raw body), the order's new status,
 * and for a failed payment the stock given back (`release` movements). Returns the released lines.
 */
export function recordPayment(db: ShopDb, p: PaymentRecord): OrderLine[] {
  return db.transaction(() => {
    db.prepare(
      `INSERT INTO payments (order_id, provider, provider_ref, event_id, amount_cents, status, raw_webhook, received_at)
       VALUES (?,?,?,?,?,?,?,?)`,
    ).run(p.orderId, p.provider, p.providerRef, p.eventId, p.amountCents, p.succeeded ? 'succeeded' : 'failed', p.rawWebhook, p.receivedAt);
    db.prepare('UPDATE orders SET status = ?, updated_at = ? WHERE id = ?').run(
      p.succeeded ? 'paid' : 'payment_failed',
      p.receivedAt,
      p.orderId,
    );
    if (p.succeeded) return [];
    const lines = db
      .prepare('SELECT product_id AS productId, quantity FROM order_items WHERE order_id = ? ORDER BY id')
      .all(p.orderId) as OrderLine[];
    const move = db.prepare(
      "INSERT INTO inventory_movements (product_id, order_id, delta, reason, created_at) VALUES (?, ?, ?, 'release', ?)",
    );
    const give = db.prepare('UPDATE products SET stock = stock + ? WHERE id = ?');
    for (const l of lines) {
      move.run(l.productId, p.orderId, l.quantity, p.receivedAt);
      give.run(l.quantity, l.productId);
    }
    return lines;
  })();
}

/** Gives a paid order the next invoice number of the year of `at`: `INV-2026-000051`. */
export function assignInvoiceNumber(db: ShopDb, orderId: number, at: string): string {
  return db.transaction(() => {
    const year = at.slice(0, 4);
    const prefix = `INV-${year}-`;
    const last = db
      .prepare('SELECT max(invoice_number) AS n FROM orders WHERE invoice_number LIKE ?')
      .get(prefix + '%') as { n: string | null };
    const next = last.n ? Number(last.n.slice(prefix.length)) + 1 : 1;
    const number = prefix + String(next).padStart(6, '0');
    db.prepare('UPDATE orders SET invoice_number = ?, updated_at = ? WHERE id = ?').run(number, at, orderId);
    return number;
  })();
}

/** Moves an order along: paid -> shipped (with a tracking number) or shipped -> delivered. */
export function setFulfilment(
  db: ShopDb,
  orderId: number,
  status: 'shipped' | 'delivered' | 'refunded',
  at: string,
  trackingNumber?: string,
): void {
  db.prepare(
    'UPDATE orders SET status = ?, updated_at = ?, tracking_number = coalesce(?, tracking_number) WHERE id = ?',
  ).run(status, at, trackingNumber ?? null, orderId);
}

/** The oldest order in `status` whose last change is before `before`, if any. */
export function oldestInStatus(db: ShopDb, status: string, before: string): number | undefined {
  const row = db
    .prepare('SELECT id FROM orders WHERE status = ? AND updated_at < ? ORDER BY updated_at, id LIMIT 1')
    .get(status, before) as { id: number } | undefined;
  return row?.id;
}

export interface InvoiceData {
  number: string;
  orderId: number;
  issuedAt: string;
  customerName: string;
  customerEmail: string;
  address: string;
  lines: { sku: string; name: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  currency: string;
  paymentRef: string | null;
}

/** Everything an invoice shows, for an order that has an invoice number. */
export function invoiceData(db: ShopDb, orderId: number): InvoiceData | undefined {
  const o = db
    .prepare(
      `SELECT o.id, o.invoice_number AS number, o.updated_at AS updatedAt, o.total_cents AS totalCents, o.currency,
              o.shipping_address AS address, c.name AS customerName, c.email AS customerEmail,
              (SELECT provider_ref FROM payments p WHERE p.order_id = o.id AND p.status = 'succeeded' LIMIT 1) AS paymentRef,
              (SELECT max(received_at) FROM payments p WHERE p.order_id = o.id AND p.status = 'succeeded') AS paidAt
         FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?`,
    )
    .get(orderId) as
    | {
        id: number;
        number: string | null;
        updatedAt: string;
        totalCents: number;
        currency: string;
        address: string;
        customerName: string;
        customerEmail: string;
        paymentRef: string | null;
        paidAt: string | null;
      }
    | undefined;
  if (!o || !o.number) return undefined;
  const lines = db
    .prepare(
      `SELECT p.sku, p.name, i.quantity, i.unit_price_cents AS unitPriceCents
         FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = ? ORDER BY i.id`,
    )
    .all(orderId) as InvoiceData['lines'];
  return {
    number: o.number,
    orderId: o.id,
    issuedAt: o.paidAt ?? o.updatedAt,
    customerName: o.customerName,
    customerEmail: o.customerEmail,
    address: o.address,
    lines,
    totalCents: o.totalCents,
    currency: o.currency,
    paymentRef: o.paymentRef,
  };
}

/** Ids of every order that has an invoice number, oldest first. */
export function invoicedOrderIds(db: ShopDb): number[] {
  return (db.prepare('SELECT id FROM orders WHERE invoice_number IS NOT NULL ORDER BY id').all() as { id: number }[]).map(
    (r) => r.id,
  );
}

/** Row counts of the shop tables (for init's report and the tests). */
export function tableCounts(db: ShopDb): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of SHOP_TABLES) out[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  return out;
}
