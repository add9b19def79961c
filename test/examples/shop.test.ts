/**
 * The example shop (examples/shop/) end to end, on the embedded defaults: place an order, deliver
 * a Stripe-signed webhook (real `stripe` package, offline), one with a bad signature, make the
 * order e-mail fail once, crash a route, refund from the admin; then the real CLI:
 * `safetynet logs search --order N` tells that order's story in order, and `safetynet backup all`
 * + `restore db` / `restore files` bring the shop's database and invoices back.
 *
 * The shop imports `safetynet` and `safetynet/fastify` by their package names (dist/ through the
 * package.json exports map), as a shop would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import Stripe from 'stripe';
import { createLogger, loadConfig, type LogEntry, type Logger } from 'safetynet';
import { buildShop, hashPassword, type Shop } from '../../examples/shop/app.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const WEBHOOK_SECRET = 'whsec_example_shop_e2e_7f3a9c';
const stripe = new Stripe('sk_test_offline');

let running: { shop: Shop; log: Logger } | undefined;
afterEach(async () => {
  if (running) {
    await running.shop.app.close();
    await running.log.close();
    running = undefined;
  }
});

function paymentEvent(id: string, orderId: number, amount: number): string {
  return JSON.stringify({
    id,
    object: 'event',
    type: 'payment_intent.succeeded',
    data: {
      object: {
        id: `pi_order_${orderId}`,
        object: 'payment_intent',
        amount,
        metadata: { orderId: String(orderId) },
      },
    },
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('examples/shop end to end', () => {
  it("tells one order's story with the real CLI, and backup all + restore bring the shop back", async () => {
    const dir = tempDir('safetynet-shop-');
    const key = await runCli(['keygen', '--out', 'backup-identity.txt', '--json'], { cwd: dir });
    expect(key.code).toBe(0);
    const { recipient } = JSON.parse(key.stdout) as { recipient: string };
    writeFileSync(
      path.join(dir, 'safetynet.config.json'),
      JSON.stringify({
        backup: {
          recipients: [recipient],
          identity: 'backup-identity.txt',
          files: [{ name: 'invoices', path: 'data/invoices' }],
        },
      }),
    );
    mkdirSync(path.join(dir, 'data', 'invoices'), { recursive: true });
    const config = loadConfig({ cwd: dir, env: {} });
    const log = await createLogger({ config });
    const shop = await buildShop({
      config,
      log,
      webhookSecret: WEBHOOK_SECRET,
      admins: { alice: hashPassword('correct horse') },
      cookieSecret: 'e2e-cookie-secret-0123456789',
      mailRetryMs: 300,
      mailAttempts: 40, // a loaded machine may take a while to see the first failure
    });
    running = { shop, log };
    const base = await shop.app.listen({ host: '127.0.0.1', port: 0 });
    const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(base + url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });

    // Shop: products, cart, checkout.
    const products = (await (await fetch(`${base}/products`)).json()) as { sku: string; stock: number }[];
    expect(products.map((p) => p.sku)).toEqual(['CAP-GREY', 'MUG-LOGO', 'TEE-BLUE']);
    const { cartId } = (await (
      await post('/cart', {
        items: [
          { sku: 'TEE-BLUE', qty: 2 },
          { sku: 'MUG-LOGO', qty: 1 },
        ],
      })
    ).json()) as { cartId: number };
    const checkout = (await (await post('/checkout', { cartId, email: 'ana@example.test' })).json()) as {
      orderId: number;
      amount: number;
    };
    const orderId = checkout.orderId;
    expect(checkout.amount).toBe(2 * 1990 + 1250);

    // The e-mail fails once: the outbox folder is briefly not a folder.
    const outbox = shop.paths.outbox;
    renameSync(outbox, outbox + '.away');
    writeFileSync(outbox, 'not a folder');

    // A Stripe-signed payment webhook, then a forged one.
    const body = paymentEvent('evt_paid_1', orderId, checkout.amount);
    const paid = await post('/webhooks/stripe', body, {
      'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET }),
    });
    expect(paid.status).toBe(200);
    const forgedBody = paymentEvent('evt_forged_1', orderId, 1);
    const forged = await post('/webhooks/stripe', forgedBody, {
      'stripe-signature': stripe.webhooks.generateTestHeaderString({
        payload: forgedBody,
        secret: 'whsec_attacker_guess',
      }),
    });
    expect(forged.status).toBe(400);

    const search = async (filter: Record<string, unknown>) => {
      await log.flush();
      return (await log.store.search(filter, { limit: 200 })).entries;
    };
    await until('the failed e-mail', async () =>
      (await search({ orderId: String(orderId), categories: ['email'] })).find((e) => e.level === 'error'),
    );
    rmSync(outbox);
    renameSync(outbox + '.away', outbox);
    await until('the e-mail sent on retry', async () =>
      (await search({ orderId: String(orderId), categories: ['email'] })).find((e) => e.level === 'info'),
    );
    expect(readdirSync(outbox).some((f) => f.startsWith(`${orderId}-`) && f.endsWith('.eml'))).toBe(true);

    // A route crashes; an admin signs in (once wrongly) and refunds.
    expect((await post(`/orders/${orderId}/coupon`, { code: 'NOPE' })).status).toBe(500);
    expect((await post('/admin/login', { user: 'alice', password: 'wrong' })).status).toBe(401);
    const login = await post('/admin/login', { user: 'alice', password: 'correct horse' });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const refund = await post(`/admin/orders/${orderId}/refund`, {}, { cookie });
    expect(refund.status).toBe(200);
    const invoiceFile = path.join(
      shop.paths.invoices,
      String(new Date().getUTCFullYear()),
      `INV-${String(orderId).padStart(6, '0')}.pdf`,
    );
    const invoiceBytes = readFileSync(invoiceFile);
    expect(invoiceBytes.subarray(0, 8).toString()).toBe('%PDF-1.4');

    // The forged webhook is a security warning that never names the secret.
    const security = await search({ categories: ['security'] });
    expect(security.map((e) => e.message)).toEqual(
      expect.arrayContaining(['stripe webhook signature check failed', 'failed admin login']),
    );
    expect(JSON.stringify(security)).not.toContain(WEBHOOK_SECRET.slice(-6));

    await shop.app.close();
    await log.close();
    running = undefined;

    // The real CLI tells the order's story, oldest first.
    const story = await runCli(['logs', 'search', '--order', String(orderId), '--json', '--limit', '100'], {
      cwd: dir,
    });
    expect(story.code).toBe(0);
    const entries = story.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogEntry)
      .reverse();
    const steps = entries.map((e) => `${e.category}/${e.level}: ${e.message}`);
    const expected = [
      'order/info: order placed',
      'inventory/info: stock reserved: TEE-BLUE',
      'inventory/info: stock reserved: MUG-LOGO',
      `webhook/info: stripe webhook evt_paid_1 received (${Buffer.byteLength(body)} bytes)`,
      'payment/info: payment captured',
      `invoice/info: invoice INV-${String(orderId).padStart(6, '0')} generated`,
      'email/error: order e-mail not sent',
      `email/info: order e-mail sent: Your order ${orderId} is paid`,
      'error/error: Cannot read properties of undefined',
      'payment/info: refund issued',
      'admin/info: alice: refund order',
    ];
    let at = 0;
    for (const step of steps) if (at < expected.length && step.startsWith(expected[at]!)) at++;
    expect({ matched: expected.slice(0, at), steps }).toEqual({ matched: expected, steps });
    const hook = entries.find((e) => e.category === 'webhook')!;
    expect(hook.details.rawBody).toBe(body);
    const crash = entries.find((e) => e.category === 'error')!;
    expect(crash.error_stack).toContain('TypeError');
    expect(crash.details).toMatchObject({ route: '/orders/:orderId/coupon', status: 500, method: 'POST' });

    // Back up everything, lose it, restore it.
    const backup = await runCli(['backup', 'all', '--json'], { cwd: dir, timeoutMs: 120_000 });
    expect(backup.code, backup.stderr).toBe(0);
    rmSync(path.join(dir, 'data', 'shop.sqlite'));
    rmSync(path.join(dir, 'data', 'shop.sqlite-wal'), { force: true });
    rmSync(path.join(dir, 'data', 'shop.sqlite-shm'), { force: true });
    rmSync(shop.paths.invoices, { recursive: true });
    // The invoice folder is gone too: the config check only warns, so restore runs as it is.
    const db = await runCli(['restore', 'db', '--to', path.join(dir, 'data', 'shop.sqlite')], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    expect(db.code, db.stderr).toBe(0);
    const files = await runCli(['restore', 'files', '--to', path.join(dir, 'restored')], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    expect(files.code, files.stderr).toBe(0);
    const restored = new Database(path.join(dir, 'data', 'shop.sqlite'), { readonly: true });
    try {
      expect(restored.prepare('SELECT status, total_cents FROM orders WHERE id = ?').get(orderId)).toEqual({
        status: 'refunded',
        total_cents: checkout.amount,
      });
      expect(restored.prepare('SELECT stock FROM products WHERE sku = ?').get('TEE-BLUE')).toEqual({
        stock: 25,
      });
    } finally {
      restored.close();
    }
    const back = path.join(dir, 'restored', 'invoices', path.relative(shop.paths.invoices, invoiceFile));
    expect(existsSync(back)).toBe(true);
    expect(readFileSync(back).equals(invoiceBytes)).toBe(true);
  });
});
