/** Invented customers for the demo shop (reserved example e-mail domains only). */
import { CITIES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS } from './catalog.js';
import type { Rng } from './rng.js';
import type { NewCustomer } from './shop-db.js';

/** A new invented customer; `serial` keeps e-mail addresses unique. */
export function inventCustomer(rng: Rng, serial: number, createdAt: string): NewCustomer {
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  return {
    email: `${first}.${last}.${serial}@${rng.pick(EMAIL_DOMAINS)}`.toLowerCase(),
    name: `${first} ${last}`,
    street: `${rng.pick(STREETS)} ${rng.int(1, 120)}`,
    city: rng.pick(CITIES),
    country: 'DE',
    createdAt,
  };
}

/** "anna.mueller.17@example.com" -> "a***@example.com", for log entries about e-mails. */
export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}
