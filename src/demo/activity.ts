/**
 * `demo activity`: the sample shop at work. Every few seconds a customer places an order, and the
 * shop's code logs what a real shop logs — the order, the raw payment webhook (with its signature
 * header and a proxy's Authorization header, which the logger redacts), the payment result, the
 * invoice (a PDF written into the invoices folder), stock changes, the confirmation e-mail — and now
 * and then something goes wrong: a declined card, an exception with a stack, an e-mail that times
 * out, a failed admin login from a strange address. Orders are really written into the shop
 * database, so each backup has new data to carry.
 *
 * The simulated security events carry `details.simulated: true`: the demo must never be mistaken
 * for a real attack, and the panel's own failed logins (which are real) lack the flag.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as path from 'node:path';
import type { SafetynetConfig } from '../config/types.js';
import type { Logger } from '../log/types.js';
import { CATALOG, CURRENCY } from './catalog.js';
import { invoiceRelPath, money, writeInvoice } from './invoice.js';
import { fileSetPath } from './layout.js';
import { inventCustomer, maskEmail } from './people.js';
import type { Rng } from './rng.js';
import { pickLines } from './seed.js';
import {
  LOW_STOCK,
  assignInvoiceNumber,
  getCustomer,
  insertCustomer,
  invoiceData,
  listProducts,
  oldestInStatus,
  openShopDb,
  placeOrder,
  recordPayment,
  restock,
  setFulfilment,
  type ShopDb,
} from './shop-db.js';
import { DEMO_WEBHOOK_SECRET, paymentEventBody, stripeId, stripeSignature } from './webhook.js';

/** What goes wrong in one step (the rest goes right). */
export interface StepPlan {
  paymentFails: boolean;
  throwsError: boolean;
  emailFails: boolean;
  failedLogin: boolean;
}

/**
 * With `showcase`, the first three orders show every kind of event once, so a short run (and the
 * first ten seconds of `npm start`) already has something on every filter of the Logs page.
 */
export const SHOWCASE: readonly StepPlan[] = [
  { paymentFails: false, throwsError: false, emailFails: false, failedLogin: true },
  { paymentFails: true, throwsError: true, emailFails: false, failedLogin: false },
  { paymentFails: false, throwsError: false, emailFails: true, failedLogin: false },
];

/** How often each mishap happens per order, when not scripted. */
export const MISHAP_RATES = { paymentFails: 0.07, throwsError: 0.04, emailFails: 0.05, failedLogin: 0.03 };

export interface StepResult {
  orderId: number;
  totalCents: number;
  paid: boolean;
  invoice?: string;
  errors: number;
  securityEvents: number;
}

export interface ActivityReport {
  orders: number;
  paid: number;
  failedPayments: number;
  invoices: number;
  /** Steps that could not be completed (logged as errors, the run went on). */
  stepErrors: number;
  securityEvents: number;
}

export interface ActivityOptions {
  config: SafetynetConfig;
  logger: Logger;
  rng: Rng;
  /** Mean pause between orders, ms (each pause is 0.5-1.5 times this). */
  intervalMs: number;
  /** Stop after this many orders (default: until `signal`). */
  count?: number;
  showcase?: boolean;
  signal?: AbortSignal;
  /** Called after each order (the CLI's --verbose line). */
  onStep?: (result: StepResult) => void;
  now?: () => number;
}

/** Runs the simulated shop until `count` orders are done or `signal` aborts. */
export async function runActivity(opts: ActivityOptions): Promise<ActivityReport> {
  const db = openShopDb(opts.config.database.path);
  const report: ActivityReport = { orders: 0, paid: 0, failedPayments: 0, invoices: 0, stepErrors: 0, securityEvents: 0 };
  try {
    const shop = new DemoShop(db, opts.logger, opts.rng, fileSetPath(opts.config, 'invoices', 'data/invoices'), opts.now);
    for (let n = 0; opts.count === undefined || n < opts.count; n++) {
      if (opts.signal?.aborted) break;
      const plan = opts.showcase && n < SHOWCASE.length ? SHOWCASE[n]! : shop.randomPlan();
      try {
        const r = await shop.step(plan);
        report.orders++;
        if (r.paid) report.paid++;
        else report.failedPayments++;
        if (r.invoice) report.invoices++;
        report.securityEvents += r.securityEvents;
        opts.onStep?.(r);
      } catch (err) {
        // A locked or damaged database must not end the demo: log it like a shop would, go on.
        report.stepErrors++;
        opts.logger.error(err, { message: `demo shop step failed: ${(err as Error)?.message ?? String(err)}` });
      }
      if (opts.count !== undefined && n + 1 >= opts.count) break;
      const pause = Math.round(opts.intervalMs * (0.5 + opts.rng.next()));
      if (pause > 0) {
        try {
          await sleep(pause, undefined, opts.signal ? { signal: opts.signal } : {});
        } catch {
          break; // aborted
        }
      }
    }
    await opts.logger.flush();
    return report;
  } finally {
    db.close();
  }
}

/** Addresses for the simulated failed logins (documentation ranges, RFC 5737). */
const STRANGE_ADDRESSES = ['203.0.113.7', '198.51.100.23', '192.0.2.144', '203.0.113.61'];
const TRIED_NAMES = ['admin', 'root', 'shopadmin', 'test', 'administrator'];

/** The simulated shop's code path for one order. */
export class DemoShop {
  private readonly now: () => number;
  private nextCustomerSerial: number;

  constructor(
    private readonly db: ShopDb,
    private readonly log: Logger,
    private readonly rng: Rng,
    private readonly invoicesDir: string,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
    this.nextCustomerSerial =
      (db.prepare('SELECT coalesce(max(id), 0) AS n FROM customers').get() as { n: number }).n + 1;
  }

  randomPlan(): StepPlan {
    const r = this.rng;
    return {
      paymentFails: r.chance(MISHAP_RATES.paymentFails),
      throwsError: r.chance(MISHAP_RATES.throwsError),
      emailFails: r.chance(MISHAP_RATES.emailFails),
      failedLogin: r.chance(MISHAP_RATES.failedLogin),
    };
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** One order from checkout to e-mail, plus whatever mishaps `plan` asks for. */
  async step(plan: StepPlan): Promise<StepResult> {
    const { db, rng } = this;
    let securityEvents = 0;
    if (plan.failedLogin) {
      await this.failedLogin();
      securityEvents++;
    }

    // Checkout: a returning customer most of the time, sometimes a new one.
    const customerCount = (db.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n;
    const customerId =
      customerCount === 0 || rng.chance(0.25)
        ? insertCustomer(db, inventCustomer(rng, this.nextCustomerSerial++, this.iso()))
        : rng.int(1, customerCount);
    const customer = getCustomer(db, customerId)!;
    const stock = new Map(listProducts(db).map((p) => [p.id, p.stock]));
    const lines = pickLines(rng, CATALOG.length, (id, qty) => (stock.get(id) ?? 0) >= qty);
    const order = placeOrder(db, { customerId, lines, createdAt: this.iso() });
    const olog = this.log.child({ orderId: order.orderId });
    olog.order.info(`order #${order.orderId} placed: ${lines.length} item(s), ${money(order.totalCents)}`, {
      details: {
        customerId,
        items: order.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents })),
        totalCents: order.totalCents,
        currency: CURRENCY,
        channel: rng.pick(['web', 'web', 'web', 'mobile']),
      },
    });
    for (const l of order.lines) {
      olog.inventory.info(`stock taken: ${l.sku} -${l.quantity} (${l.stockAfter} left)`, {
        details: { sku: l.sku, productId: l.productId, delta: -l.quantity, stockAfter: l.stockAfter, reason: 'sale' },
      });
    }

    // The payment provider calls back: the raw webhook first, exactly as it arrived.
    const succeeded = !plan.paymentFails;
    const eventId = stripeId('evt', rng);
    const intentId = stripeId('pi', rng);
    const sentAt = Math.floor(this.now() / 1000);
    const declineCode = rng.pick(['insufficient_funds', 'card_declined', 'expired_card', 'do_not_honor']);
    const card = { brand: rng.pick(['visa', 'mastercard', 'amex']), last4: String(rng.int(0, 9999)).padStart(4, '0') };
    const body = paymentEventBody({
      eventId,
      intentId,
      created: sentAt,
      amountCents: order.totalCents,
      currency: CURRENCY,
      customerRef: `cus_${rng.base62(14)}`,
      orderId: order.orderId,
      succeeded,
      declineCode,
      cardBrand: card.brand,
      cardLast4: card.last4,
    });
    olog.webhook({
      provider: 'stripe',
      eventId,
      orderId: order.orderId,
      rawBody: body,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        'stripe-signature': stripeSignature(body, sentAt, DEMO_WEBHOOK_SECRET),
        // The shop's reverse proxy protects the webhook route with basic auth; the logger must
        // redact this header (the demo's tests check that it does).
        authorization: `Basic ${Buffer.from('stripe-hooks:demo-proxy-password').toString('base64')}`,
        'x-forwarded-for': '3.18.12.63',
      },
    });
    const released = recordPayment(db, {
      orderId: order.orderId,
      provider: 'stripe',
      providerRef: intentId,
      eventId,
      amountCents: order.totalCents,
      succeeded,
      rawWebhook: body,
      receivedAt: this.iso(),
    });
    const paymentDetails = { provider: 'stripe', paymentIntent: intentId, eventId, amountCents: order.totalCents, currency: CURRENCY, card };
    let invoice: string | undefined;
    if (succeeded) {
      olog.payment.info(`payment of ${money(order.totalCents)} succeeded (${card.brand} ****${card.last4})`, {
        details: paymentDetails,
      });
      invoice = await this.invoice(order.orderId, olog);
      if (plan.emailFails) {
        olog.email.warn(`order confirmation to ${maskEmail(customer.email)} not sent: SMTP timeout after 10 s, will retry`, {
          details: { to: maskEmail(customer.email), template: 'order-confirmation', attempt: 1, server: 'smtp.mail.example:587', retryInSeconds: 60 },
        });
      } else {
        olog.email.info(`order confirmation sent to ${maskEmail(customer.email)}`, {
          details: {
            to: maskEmail(customer.email),
            template: 'order-confirmation',
            messageId: `<${rng.hex(16)}@shop.example>`,
            attachments: invoice ? [path.basename(invoiceRelPath(invoice))] : [],
          },
        });
      }
    } else {
      olog.payment.warn(`payment of ${money(order.totalCents)} failed: card declined (${declineCode})`, {
        details: { ...paymentDetails, declineCode },
      });
      olog.order.warn(`order #${order.orderId} not completed: payment failed`, { details: { status: 'payment_failed' } });
      for (const l of released) {
        const sku = CATALOG[l.productId - 1]?.sku ?? String(l.productId);
        olog.inventory.info(`stock released: ${sku} +${l.quantity}`, {
          details: { sku, productId: l.productId, delta: l.quantity, reason: 'release' },
        });
      }
      olog.email.info(`payment-failed notice sent to ${maskEmail(customer.email)}`, {
        details: { to: maskEmail(customer.email), template: 'payment-failed', messageId: `<${rng.hex(16)}@shop.example>` },
      });
    }

    // Stock that ran low is reordered at once (the demo must not run out).
    for (const l of order.lines) {
      if (l.stockAfter < LOW_STOCK) {
        olog.inventory.warn(`low stock: ${l.sku} has ${l.stockAfter} left (threshold ${LOW_STOCK})`, {
          details: { sku: l.sku, productId: l.productId, stock: l.stockAfter, threshold: LOW_STOCK },
        });
        const qty = rng.int(40, 80);
        const after = restock(db, l.productId, qty, this.iso());
        this.log.inventory.info(`restocked ${l.sku} +${qty} (${after} in stock)`, {
          details: { sku: l.sku, productId: l.productId, delta: qty, stockAfter: after, reason: 'restock' },
        });
      }
    }

    let errors = 0;
    if (plan.throwsError) {
      this.shippingLabelFailure(order.orderId);
      errors++;
    }
    this.fulfilment();
    return { orderId: order.orderId, totalCents: order.totalCents, paid: succeeded, ...(invoice ? { invoice } : {}), errors, securityEvents };
  }

  /** Numbers the invoice, writes the PDF, logs it. Returns the invoice number. */
  private async invoice(orderId: number, olog: Logger): Promise<string> {
    const number = assignInvoiceNumber(this.db, orderId, this.iso());
    const data = invoiceData(this.db, orderId)!;
    const { file, bytes } = await writeInvoice(this.invoicesDir, data);
    olog.invoice.info(`invoice ${number} created`, {
      details: { invoice: number, file: path.relative(path.dirname(this.invoicesDir), file), bytes, totalCents: data.totalCents },
    });
    return number;
  }

  /** A real exception with a real stack and a cause, as an integration failure would throw it. */
  private shippingLabelFailure(orderId: number): void {
    const rng = this.rng;
    try {
      if (rng.chance(0.5)) requestShippingLabel(orderId);
      else formatCustomsDeclaration(orderId);
    } catch (err) {
      this.log.error(err, { orderId, details: { step: 'fulfilment', retry: 'next run of the label job' } });
    }
  }

  /** Ships the oldest paid order and delivers the oldest shipped one, now and then. */
  private fulfilment(): void {
    const { db, rng } = this;
    const now = this.now();
    if (rng.chance(0.5)) {
      const id = oldestInStatus(db, 'paid', new Date(now - 2 * 60_000).toISOString());
      if (id !== undefined) {
        const tracking = `DHL${rng.int(100000000, 999999999)}`;
        setFulfilment(db, id, 'shipped', this.iso(), tracking);
        this.log.order.info(`order #${id} shipped (tracking ${tracking})`, { orderId: id, details: { status: 'shipped', carrier: 'DHL', tracking } });
      }
    }
    if (rng.chance(0.4)) {
      const id = oldestInStatus(db, 'shipped', new Date(now - 10 * 60_000).toISOString());
      if (id !== undefined) {
        setFulfilment(db, id, 'delivered', this.iso());
        this.log.order.info(`order #${id} delivered`, { orderId: id, details: { status: 'delivered', carrier: 'DHL' } });
      }
    }
  }

  /** A failed admin login from an address that is not the shop owner's (simulated). */
  private async failedLogin(): Promise<void> {
    const actor = this.rng.pick(TRIED_NAMES);
    const origin = this.rng.pick(STRANGE_ADDRESSES);
    await this.log.security.info(`login failed for "${actor}"`, {
      details: {
        actor,
        action: 'login',
        outcome: 'failure',
        origin,
        reason: actor === 'admin' ? 'wrong password' : 'unknown user',
        failures: 1,
        simulated: true,
      },
    });
  }
}

// Named functions so the stored stacks read like a real shop's.
function requestShippingLabel(orderId: number): never {
  const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), {
    code: 'ECONNREFUSED',
    address: '10.0.0.7',
    port: 443,
  });
  throw new Error(`shipping label for order #${orderId} could not be created`, { cause });
}

function formatCustomsDeclaration(orderId: number): string {
  const parcel = { orderId, recipient: undefined as { postcode: string } | undefined };
  return parcel.recipient!.postcode.trim(); // TypeError: the demo's deliberate bug
}
