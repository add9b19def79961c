/** Shared set-up for the framework integration tests: a real logger on a temp store, and Stripe signing. */
import * as path from 'node:path';
import Stripe from 'stripe';
import { createLogger, type LogEntry, type Logger } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

export const WEBHOOK_SECRET = 'whsec_test_integration_0123456789abcdef';
export const stripe = new Stripe('sk_test_not_used_offline');

export async function testLogger(): Promise<{ log: Logger; dir: string }> {
  const dir = tempDir('safetynet-integrations-');
  const log = await createLogger({
    storePath: path.join(dir, 'logs.sqlite'),
    spoolDir: path.join(dir, 'spool'),
  });
  return { log, dir };
}

/** Every entry in the store, oldest first (after a flush). */
export async function entries(log: Logger): Promise<LogEntry[]> {
  await log.flush();
  const page = await log.store.search({}, { limit: 1000 });
  return page.entries.reverse();
}

/** A Stripe event body with deliberately odd formatting (must be stored byte for byte). */
export function stripeEvent(id: string, orderId: number): string {
  return `{\n  "id": "${id}",  "type": "payment_intent.succeeded",\n  "data": {"object": {"id": "pi_1", "amount": 5990, "metadata": {"orderId": "${orderId}"}, "note": "caf\u00e9 \u2713"}}\n}\n`;
}

/** The `stripe-signature` header Stripe would send for `payload`. */
export function sign(payload: string, secret = WEBHOOK_SECRET): string {
  return stripe.webhooks.generateTestHeaderString({ payload, secret });
}

/** The verifier a shop passes: Stripe's own constructEvent over the raw bytes. */
export function stripeVerify(raw: Buffer, headers: Record<string, string | string[] | undefined>): unknown {
  const sig = headers['stripe-signature'];
  return stripe.webhooks.constructEvent(raw, typeof sig === 'string' ? sig : '', WEBHOOK_SECRET);
}
