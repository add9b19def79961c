/**
 * The example shop: a small but real Fastify shop with safetynet wired in the way the README
 * recommends. `buildShop()` never listens (server.ts does), so the end-to-end test drives it too.
 *
 * What it shows: products, a cart and checkout creating orders (stock reserved), a Stripe payment
 * webhook verified by Stripe's own `constructEvent` over the raw bytes, invoice PDFs in the invoice
 * folder, order e-mails through nodemailer (retried when they fail), an admin login and a refund.
 * Each step is a log entry carrying the order id, so `safetynet logs search --order N` tells the
 * order's story; everything the shop keeps on disk is in the folders `safetynet backup all` saves.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import Stripe from 'stripe';
import type { Logger, SafetynetConfig } from 'safetynet';
import safetynet, { adminAction } from 'safetynet/fastify';
import { openShopDb, type ShopDb } from './db.js';
import { invoicePdf, writeInvoice } from './invoice.js';
import { Mailer } from './mailer.js';

export interface ShopOptions {
  config: SafetynetConfig;
  log: Logger;
  /** Stripe's webhook signing secret (whsec_…). */
  webhookSecret: string;
  /** Admin accounts: name → `hashPassword(…)`. */
  admins: Record<string, string>;
  /** Signs the admin session cookie. */
  cookieSecret: string;
  /** Delay between e-mail attempts, ms (default 2000). */
  mailRetryMs?: number;
  /** E-mail attempts in all (default 3). */
  mailAttempts?: number;
}

export interface Shop {
  app: FastifyInstance;
  db: ShopDb;
  mailer: Mailer;
  /** Paths the shop writes (all inside the folders safetynet backs up). */
  paths: { database: string; invoices: string; outbox: string };
}

/** `salt:hash` (scrypt) for an admin password. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `${salt.toString('hex')}:${scryptSync(password, salt, 32).toString('hex')}`;
}

function passwordMatches(stored: string | undefined, password: string): boolean {
  const [salt, hash] = (stored ?? '00:00').split(':');
  const got = scryptSync(password, Buffer.from(salt!, 'hex'), 32);
  const want = Buffer.from(hash!, 'hex');
  return stored !== undefined && got.length === want.length && timingSafeEqual(got, want);
}

const SESSION_MS = 30 * 60_000;

/** The signed-in admin of a request, from the signed session cookie. */
function adminOf(request: FastifyRequest): string | undefined {
  const raw = request.cookies?.admin;
  if (!raw) return undefined;
  const v = request.unsignCookie(raw);
  if (!v.valid || !v.value) return undefined;
  const [user, until] = v.value.split('|');
  return Number(until) > Date.now() ? user : undefined;
}

/** Coupons the shop knows. */
const COUPONS: Record<string, { percent: number }> = { WELCOME10: { percent: 10 } };

interface OrderRow {
  id: number;
  email: string;
  status: string;
  total_cents: number;
  created_at: string;
}

export async function buildShop(o: ShopOptions): Promise<Shop> {
  const invoices =
    o.config.backup.files.find((f) => f.name === 'invoices')?.path ??
    path.join(path.dirname(o.config.database.path), 'invoices');
  const outbox = path.join(path.dirname(o.config.database.path), 'outbox');
  mkdirSync(invoices, { recursive: true });
  mkdirSync(outbox, { recursive: true });
  const db = openShopDb(o.config.database.path);
  const stripe = new Stripe('sk_test_example_shop_no_network');
  const mailer = new Mailer(o.log, {
    outbox,
    from: 'shop@example.test',
    retryMs: o.mailRetryMs ?? 2000,
    attempts: o.mailAttempts ?? 3,
  });
  const app = Fastify();
  await app.register(fastifyCookie, { secret: o.cookieSecret });
  await app.register(safetynet, {
    logger: o.log,
    webhooks: [
      {
        url: '/webhooks/stripe',
        provider: 'stripe',
        verify: (raw, headers) =>
          stripe.webhooks.constructEvent(raw, String(headers['stripe-signature'] ?? ''), o.webhookSecret),
      },
    ],
    actor: (request) => adminOf(request as FastifyRequest),
  });
  app.addHook('onClose', async () => {
    mailer.close();
    db.close();
  });

  app.get('/products', async () =>
    db.prepare('SELECT sku, name, price_cents, stock FROM products ORDER BY sku').all(),
  );

  app.post('/cart', async (request, reply) => {
    const items = (request.body as { items?: { sku: string; qty: number }[] })?.items;
    if (!Array.isArray(items) || items.length === 0) return reply.code(400).send({ error: 'items required' });
    const r = db
      .prepare('INSERT INTO carts (items, created_at) VALUES (?, ?)')
      .run(JSON.stringify(items), new Date().toISOString());
    return { cartId: Number(r.lastInsertRowid) };
  });

  app.post('/checkout', async (request, reply) => {
    const { cartId, email } = (request.body ?? {}) as { cartId?: number; email?: string };
    const cart = db.prepare('SELECT items FROM carts WHERE id = ?').get(cartId) as
      { items: string } | undefined;
    if (!cart || !email) return reply.code(400).send({ error: 'cartId and email required' });
    const items = JSON.parse(cart.items) as { sku: string; qty: number }[];
    const log = request.safetynet;
    const placed = db.transaction(() => {
      let total = 0;
      const reserved: { sku: string; qty: number; price: number; stock: number }[] = [];
      for (const it of items) {
        const p = db.prepare('SELECT price_cents, stock FROM products WHERE sku = ?').get(it.sku) as
          { price_cents: number; stock: number } | undefined;
        if (!p || p.stock < it.qty) return { error: `not enough stock for ${it.sku}` };
        db.prepare('UPDATE products SET stock = stock - ? WHERE sku = ?').run(it.qty, it.sku);
        reserved.push({ sku: it.sku, qty: it.qty, price: p.price_cents, stock: p.stock - it.qty });
        total += p.price_cents * it.qty;
      }
      const order = db
        .prepare(
          "INSERT INTO orders (email, status, total_cents, created_at) VALUES (?, 'awaiting_payment', ?, ?)",
        )
        .run(email, total, new Date().toISOString());
      const orderId = Number(order.lastInsertRowid);
      for (const r of reserved)
        db.prepare('INSERT INTO order_items VALUES (?, ?, ?, ?)').run(orderId, r.sku, r.qty, r.price);
      db.prepare('DELETE FROM carts WHERE id = ?').run(cartId);
      return { orderId, total, reserved };
    })();
    if ('error' in placed) return reply.code(409).send({ error: placed.error });
    const { orderId, total, reserved } = placed;
    await log.order.info('order placed', { orderId, details: { totalCents: total, items: reserved.length } });
    for (const r of reserved) {
      void log.inventory.info(`stock reserved: ${r.sku}`, {
        orderId,
        details: { sku: r.sku, delta: -r.qty, stock: r.stock },
      });
    }
    return { orderId, amount: total, paymentIntent: `pi_order_${orderId}` };
  });

  app.get('/orders/:orderId', async (request, reply) => {
    const row = db
      .prepare('SELECT id, status, total_cents FROM orders WHERE id = ?')
      .get(Number((request.params as { orderId: string }).orderId));
    return row ?? reply.code(404).send({ error: 'no such order' });
  });

  app.post('/orders/:orderId/coupon', async (request) => {
    const { code } = (request.body ?? {}) as { code?: string };
    // A real-looking bug, kept on purpose: an unknown code throws a TypeError (the end-to-end test
    // uses it to show how a route's crash lands in the order's story, with its stack).
    const percent = COUPONS[String(code)]!.percent;
    await request.safetynet.order.info(`coupon ${code} applied`, { details: { percent } });
    return { percent };
  });

  app.post('/webhooks/stripe', async (request, reply) => {
    const event = request.safetynetWebhook?.event as Stripe.Event;
    if (event.type !== 'payment_intent.succeeded') return { received: true };
    const pi = event.data.object as Stripe.PaymentIntent;
    const orderId = Number(pi.metadata?.orderId);
    const log = request.safetynet.child({ orderId });
    const order = db.prepare('SELECT * FROM orders WHERE id = ?').get(orderId) as OrderRow | undefined;
    if (!order) {
      await log.payment.warn('payment for an unknown order', { details: { eventId: event.id } });
      return { received: true };
    }
    if (pi.amount !== order.total_cents) {
      await log.payment.error('payment amount does not match the order', {
        details: { paid: pi.amount, due: order.total_cents },
      });
      return reply.code(422).send({ error: 'amount mismatch' });
    }
    const fresh = db
      .prepare("INSERT OR IGNORE INTO payments VALUES (?, ?, ?, 'captured', ?)")
      .run(orderId, event.id, pi.amount, new Date().toISOString());
    if (fresh.changes === 0) {
      await log.payment.info('payment event already processed', { details: { eventId: event.id } });
      return { received: true };
    }
    db.prepare("UPDATE orders SET status = 'paid' WHERE id = ?").run(orderId);
    await log.payment.info('payment captured', {
      details: { amountCents: pi.amount, eventId: event.id, paymentIntent: pi.id },
    });
    const lines = db
      .prepare(
        'SELECT p.name, i.qty, i.price_cents AS priceCents FROM order_items i JOIN products p USING (sku) WHERE i.order_id = ?',
      )
      .all(orderId) as { name: string; qty: number; priceCents: number }[];
    const number = `INV-${String(orderId).padStart(6, '0')}`;
    const file = writeInvoice(
      invoices,
      number,
      invoicePdf(number, orderId, order.email, lines),
      new Date().getUTCFullYear(),
    );
    await log.invoice.info(`invoice ${number} generated`, {
      details: { number, file: path.relative(invoices, file) },
    });
    void mailer.send({
      orderId,
      to: order.email,
      subject: `Your order ${orderId} is paid`,
      text: `Thank you! Invoice ${number} is attached to your account.`,
    });
    return { received: true };
  });

  app.post('/admin/login', async (request, reply) => {
    const { user, password } = (request.body ?? {}) as { user?: string; password?: string };
    if (!user || !password || !passwordMatches(o.admins[user], password)) {
      await request.safetynet.security.warn('failed admin login', {
        details: { user: String(user ?? ''), ip: request.ip },
      });
      return reply.code(401).send({ error: 'wrong user or password' });
    }
    reply.setCookie('admin', `${user}|${Date.now() + SESSION_MS}`, {
      signed: true,
      httpOnly: true,
      sameSite: 'strict',
      path: '/admin',
    });
    await adminAction(request, 'login', { actor: user });
    return { ok: true };
  });

  app.post('/admin/orders/:orderId/refund', async (request, reply) => {
    const admin = adminOf(request);
    if (!admin) return reply.code(401).send({ error: 'log in first' });
    const orderId = Number((request.params as { orderId: string }).orderId);
    const order = db.prepare('SELECT * FROM orders WHERE id = ?').get(orderId) as OrderRow | undefined;
    if (!order || order.status !== 'paid') {
      await adminAction(request, 'refund', {
        target: `order ${orderId}`,
        outcome: 'failure',
        reason: order ? `order is ${order.status}` : 'no such order',
      });
      return reply.code(409).send({ error: 'only a paid order can be refunded' });
    }
    const items = db.prepare('SELECT sku, qty FROM order_items WHERE order_id = ?').all(orderId) as {
      sku: string;
      qty: number;
    }[];
    db.transaction(() => {
      db.prepare("UPDATE orders SET status = 'refunded' WHERE id = ?").run(orderId);
      db.prepare('INSERT INTO refunds VALUES (?, ?, ?, ?)').run(
        orderId,
        order.total_cents,
        admin,
        new Date().toISOString(),
      );
      for (const it of items)
        db.prepare('UPDATE products SET stock = stock + ? WHERE sku = ?').run(it.qty, it.sku);
    })();
    const log = request.safetynet;
    await log.payment.info('refund issued', { details: { amountCents: order.total_cents } });
    for (const it of items)
      void log.inventory.info(`stock returned: ${it.sku}`, { details: { sku: it.sku, delta: it.qty } });
    await adminAction(request, 'refund', { target: `order ${orderId}`, amountCents: order.total_cents });
    return { refunded: order.total_cents };
  });

  return { app, db, mailer, paths: { database: o.config.database.path, invoices, outbox } };
}
