import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, isCardNumber, luhnValid, maskCardNumbers } from '../../src/log/redact.js';
import { serializeDetails } from '../../src/log/serialize.js';
import { escapeControl } from '../../src/log/text.js';

// Published test card numbers (all pass Luhn), in the formats people paste them.
const CARDS = [
  '4111111111111111', // Visa
  '4012888888881881', // Visa
  '4222222222222', // Visa, 13 digits
  '5555555555554444', // Mastercard
  '5105105105105100', // Mastercard
  '2223003122003222', // Mastercard 2-series
  '378282246310005', // Amex, 15 digits
  '371449635398431', // Amex
  '6011111111111117', // Discover
  '6011000990139424', // Discover
  '3530111333300000', // JCB
  '30569309025904', // Diners, 14 digits
  '6250941006528599', // UnionPay
  '4111 1111 1111 1111', // with spaces
  '4111-1111-1111-1111', // with dashes
  '3782 822463 10005', // Amex grouping
];

// Digit runs that must survive: they are not cards (wrong check digit, wrong prefix, too short/long).
const NOT_CARDS = [
  '4111111111111112', // Luhn fails
  '1700000000000', // a millisecond timestamp (13 digits, starts with 1)
  '1764161234567', // another timestamp
  '9780306406157', // ISBN-13 (starts with 9)
  '123456789012', // 12 digits
  '41111111111111111111', // 20 digits
  '0049 30 1234567', // phone number
  '2026-11-26', // date
  '1042', // order id
  '99.95', // amount
];

describe('card number masking', () => {
  it('masks every test card in every usual format, keeping the last four digits', () => {
    for (const card of CARDS) {
      const digits = card.replace(/\D/g, '');
      expect(luhnValid(digits), card).toBe(true);
      const out = maskCardNumbers(`paid with ${card} today`);
      expect(out, card).toBe(`paid with [REDACTED CARD ****${digits.slice(-4)}] today`);
      expect(out).not.toContain(digits.slice(0, 6));
    }
  });

  it('leaves numbers that are not cards alone', () => {
    for (const n of NOT_CARDS) {
      expect(maskCardNumbers(`value ${n} end`), n).toBe(`value ${n} end`);
    }
    expect(isCardNumber('1700000000000')).toBe(false);
  });

  it('finds several cards in one text, next to punctuation', () => {
    expect(maskCardNumbers('a=4111111111111111,b=(5555555555554444).')).toBe(
      'a=[REDACTED CARD ****1111],b=([REDACTED CARD ****4444]).',
    );
  });
});

describe('key redaction', () => {
  const r = new Redactor(['ssn_number', 'X-Shop-Signature']);
  const secretKeys = [
    'password',
    'Password',
    'newPassword',
    'user_password',
    'passwd',
    'secret',
    'clientSecret',
    'client_secret',
    'token',
    'accessToken',
    'refresh_token',
    'csrf-token',
    'api_key',
    'apiKey',
    'API-KEY',
    'x-api-key',
    'apikey',
    'authorization',
    'Authorization',
    'proxy-authorization',
    'cookie',
    'Cookie',
    'set-cookie',
    'Set-Cookie',
    'cvv',
    'cvc',
    'cvv2',
    'card_number',
    'cardNumber',
    'card-number',
    'creditCardNumber',
    'pan',
    'PAN',
    'session',
    'sessionId',
    'session_id',
    'private_key',
    'ssn_number', // configured
    'ssnNumber', // configured, other spelling
    'x-shop-signature', // configured
  ];
  const plainKeys = [
    'amount',
    'currency',
    'company',
    'expand',
    'span',
    'customer',
    'orderId',
    'email',
    'last4',
    'brand',
    'cc',
    'card',
  ];

  it('redacts secret keys in every spelling and keeps ordinary ones', () => {
    for (const k of secretKeys) expect(r.isSecretKey(k), k).toBe(true);
    for (const k of plainKeys) expect(r.isSecretKey(k), k).toBe(false);
  });

  it('redacts at any depth, in arrays, maps and error properties', () => {
    const err = Object.assign(new Error('db failed'), { password: 'hunter2', query: 'select 1' });
    const details = {
      user: {
        email: 'a@b.c',
        password: 'hunter2',
        profile: { settings: [{ apiKey: 'sk_live_123' }, { theme: 'dark' }] },
      },
      headers: new Map<string, unknown>([
        ['Authorization', 'Bearer abc.def'],
        ['accept', 'json'],
      ]),
      payment: { card: { number: '4111 1111 1111 1111', cvc: '123', brand: 'visa', last4: '1111' } },
      err,
      note: 'customer said card 5555555555554444 was fine',
    };
    const json = serializeDetails(details, r, 65536);
    for (const secret of ['hunter2', 'sk_live_123', 'Bearer abc', '4111 1111', '5555555555554444', '"123"']) {
      expect(json, secret).not.toContain(secret);
    }
    const out = JSON.parse(json);
    expect(out.user.password).toBe(REDACTED);
    expect(out.user.email).toBe('a@b.c');
    expect(out.user.profile.settings).toEqual([{ apiKey: REDACTED }, { theme: 'dark' }]);
    expect(out.headers).toEqual({ Authorization: REDACTED, accept: 'json' });
    expect(out.payment.card).toEqual({
      number: '[REDACTED CARD ****1111]',
      cvc: REDACTED,
      brand: 'visa',
      last4: '1111',
    });
    expect(out.err).toMatchObject({
      type: 'Error',
      message: 'db failed',
      password: REDACTED,
      query: 'select 1',
    });
    expect(out.note).toBe('customer said card [REDACTED CARD ****4444] was fine');
  });

  it('keeps the key visible when the value is redacted, and leaves absent values absent', () => {
    expect(JSON.parse(serializeDetails({ token: null, secret: 0, password: undefined }, r, 65536))).toEqual({
      token: REDACTED,
      secret: REDACTED,
    });
  });
});

describe('text output escaping', () => {
  it('makes CR/LF and terminal escapes visible instead of acting on them', () => {
    expect(escapeControl('ok\r\n2026-11-26 INFO admin: forged line')).toBe(
      'ok\\r\\n2026-11-26 INFO admin: forged line',
    );
    expect(escapeControl('\u001b[2Jcleared\u0007')).toBe('\\x1b[2Jcleared\\x07');
    expect(escapeControl('tab\there\u2028sep')).toBe('tab\\there\\u2028sep');
    expect(escapeControl('plain ünïcode ✓')).toBe('plain ünïcode ✓');
  });
});
