/**
 * Stripe-shaped payment webhooks for the demo: the event body as Stripe sends it (pretty-printed
 * JSON, which is why the log must keep the raw text: re-serialising it would change the bytes the
 * signature covers) and a real `Stripe-Signature` header (HMAC-SHA-256 over "t.body").
 */
import { createHmac } from 'node:crypto';
import type { Rng } from './rng.js';

/**
 * The demo's webhook signing secret. Not a secret at all (it is in the source); it only makes the
 * sample signatures real, so they can be re-checked against the stored raw body.
 */
export const DEMO_WEBHOOK_SECRET = 'whsec_safetynetDemoNotASecret0000';

export interface PaymentEventInput {
  eventId: string;
  intentId: string;
  /** Seconds since the epoch. */
  created: number;
  amountCents: number;
  currency: string;
  customerRef: string;
  orderId: number;
  succeeded: boolean;
  /** Decline reason for a failed payment. */
  declineCode?: string;
  cardBrand: string;
  cardLast4: string;
}

/** An id in Stripe's style: prefix + 24 base62 characters. */
export function stripeId(prefix: string, rng: Rng): string {
  return `${prefix}_${rng.base62(24)}`;
}

/** The raw body of a `payment_intent.succeeded` / `payment_intent.payment_failed` event. */
export function paymentEventBody(e: PaymentEventInput): string {
  const intent: Record<string, unknown> = {
    id: e.intentId,
    object: 'payment_intent',
    amount: e.amountCents,
    amount_received: e.succeeded ? e.amountCents : 0,
    currency: e.currency.toLowerCase(),
    customer: e.customerRef,
    status: e.succeeded ? 'succeeded' : 'requires_payment_method',
    payment_method_details: { type: 'card', card: { brand: e.cardBrand, last4: e.cardLast4 } },
    metadata: { order_id: String(e.orderId) },
  };
  if (!e.succeeded) {
    intent.last_payment_error = {
      type: 'card_error',
      code: 'card_declined',
      decline_code: e.declineCode ?? 'generic_decline',
      message: 'Your card was declined.',
    };
  }
  const event = {
    id: e.eventId,
    object: 'event',
    api_version: '2024-06-20',
    created: e.created,
    type: e.succeeded ? 'payment_intent.succeeded' : 'payment_intent.payment_failed',
    livemode: false,
    data: { object: intent },
  };
  return JSON.stringify(event, null, 2);
}

/** The `Stripe-Signature` header value for `body` sent at `timestampSec`. */
export function stripeSignature(body: string, timestampSec: number, secret = DEMO_WEBHOOK_SECRET): string {
  const v1 = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `t=${timestampSec},v1=${v1}`;
}
