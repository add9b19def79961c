/**
 * Seeds the demo shop database: the catalogue, a few hundred customers and a few hundred orders
 * over the last 60 days with their items, payments (raw Stripe-style webhook bodies) and inventory
 * movements: a few thousand rows in all, in well under a second. Built under a temporary name and
 * renamed into place at the end, so an interrupted `demo init` never leaves a half-seeded database
 * that a later run would mistake for a finished one.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { tempSibling, fsyncDir } from '../util/fs.js';
import { CATALOG, CURRENCY } from './catalog.js';
import { inventCustomer } from './people.js';
import type { Rng } from './rng.js';
import {
  assignInvoiceNumber,
  createShopDb,
  insertCustomer,
  invoiceData,
  placeOrder,
  recordPayment,
  restock,
  setFulfilment,
  tableCounts,
  type InvoiceData,
  type OrderLine,
} from './shop-db.js';
import { paymentEventBody, stripeId } from './webhook.js';

export interface SeedOptions {
  customers?: number;
  orders?: number;
  /** The newest this many paid orders get an invoice (and a PDF). */
  invoices?: number;
  /** Days the seeded orders reach back. */
  days?: number;
}

export interface SeedResult {
  counts: Record<string, number>;
  /** The invoices to write as PDFs, oldest first. */
  invoices: InvoiceData[];
}

const DAY = 86_400_000;
export const FIRST_ORDER_ID = 1001;

/** Lines of an order: 1-4 different products, 1-3 of each. */
export function pickLines(rng: Rng, products: number, inStock?: (productId: number, qty: number) => boolean): OrderLine[] {
  const n = rng.int(1, 4);
  const chosen = new Map<number, number>();
  for (let tries = 0; chosen.size < n && tries < 20; tries++) {
    const id = rng.int(1, products);
    const qty = rng.chance(0.7) ? 1 : rng.int(2, 3);
    if (chosen.has(id) || (inStock && !inStock(id, qty))) continue;
    chosen.set(id, qty);
  }
  return [...chosen].map(([productId, quantity]) => ({ productId, quantity }));
}

/** Builds the seeded database at `file` (which must not exist). */
export async function seedShopDb(file: string, rng: Rng, now: number, opts: SeedOptions = {}): Promise<SeedResult> {
  const customers = opts.customers ?? 300;
  const orders = opts.orders ?? 600;
  const invoices = opts.invoices ?? 50;
  const days = opts.days ?? 60;
  const iso = (ms: number) => new Date(ms).toISOString();
  const start = now - days * DAY;
  const tmp = tempSibling(file);
  const db = createShopDb(tmp, iso(start - DAY));
  try {
    db.transaction(() => {
      // Opening stock, delivered the day before the first order.
      for (let id = 1; id <= CATALOG.length; id++) restock(db, id, rng.int(150, 260), iso(start - DAY));
      for (let i = 1; i <= customers; i++) {
        insertCustomer(db, inventCustomer(rng, i, iso(start - rng.int(1, 120) * DAY)));
      }
      const stock = new Map<number, number>();
      const inStock = (id: number, qty: number) => (stock.get(id) ?? 0) >= qty;
      for (const r of db.prepare('SELECT id, stock FROM products').all() as { id: number; stock: number }[]) {
        stock.set(r.id, r.stock);
      }
      for (let i = 0; i < orders; i++) {
        const created = Math.floor(start + ((i + rng.next()) * (now - start - 60_000)) / orders);
        const age = now - created;
        const lines = pickLines(rng, CATALOG.length, inStock);
        const placed = placeOrder(db, {
          customerId: rng.int(1, customers),
          lines,
          createdAt: iso(created),
          ...(i === 0 ? { orderId: FIRST_ORDER_ID } : {}),
        });
        for (const l of placed.lines) stock.set(l.productId, l.stockAfter);
        const succeeded = !rng.chance(0.04);
        const paidAt = created + rng.int(2, 40) * 1000;
        const intentId = stripeId('pi', rng);
        const eventId = stripeId('evt', rng);
        const body = paymentEventBody({
          eventId,
          intentId,
          created: Math.floor(paidAt / 1000),
          amountCents: placed.totalCents,
          currency: CURRENCY,
          customerRef: `cus_${rng.base62(14)}`,
          orderId: placed.orderId,
          succeeded,
          declineCode: 'insufficient_funds',
          cardBrand: rng.pick(['visa', 'mastercard', 'amex']),
          cardLast4: String(rng.int(0, 9999)).padStart(4, '0'),
        });
        const released = recordPayment(db, {
          orderId: placed.orderId,
          provider: 'stripe',
          providerRef: intentId,
          eventId,
          amountCents: placed.totalCents,
          succeeded,
          rawWebhook: body,
          receivedAt: iso(paidAt),
        });
        for (const l of released) stock.set(l.productId, (stock.get(l.productId) ?? 0) + l.quantity);
        if (!succeeded) continue;
        if (age > 2 * DAY) {
          setFulfilment(db, placed.orderId, 'shipped', iso(paidAt + DAY), `DHL${rng.int(100000000, 999999999)}`);
        }
        if (age > 7 * DAY) {
          setFulfilment(db, placed.orderId, rng.chance(0.03) ? 'refunded' : 'delivered', iso(paidAt + 3 * DAY));
        }
      }
    })();
    // The newest paid orders get invoices (numbered in date order, so numbers rise with time).
    const ids = (
      db
        .prepare(
          "SELECT id, created_at AS createdAt FROM orders WHERE status IN ('paid','shipped','delivered','refunded') ORDER BY created_at DESC LIMIT ?",
        )
        .all(invoices) as { id: number; createdAt: string }[]
    ).reverse();
    const result: InvoiceData[] = [];
    db.transaction(() => {
      for (const { id, createdAt } of ids) assignInvoiceNumber(db, id, createdAt);
    })();
    for (const { id } of ids) result.push(invoiceData(db, id)!);
    const counts = tableCounts(db);
    const fk = db.pragma('foreign_key_check') as unknown[];
    if (fk.length) throw new Error(`seeding left ${fk.length} foreign key violations`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    await fsp.rename(tmp, file);
    await fsyncDir(path.dirname(file));
    return { counts, invoices: result };
  } catch (err) {
    if (db.open) db.close();
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) await fsp.rm(f, { force: true });
    throw err;
  }
}
