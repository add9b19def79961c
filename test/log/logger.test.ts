import { afterEach, describe, expect, it, vi } from 'vitest';
import * as path from 'node:path';
import { ManualClock } from '../../src/clock.js';
import { SafetynetError } from '../../src/errors.js';
import { createLogger, type LoggerOptions } from '../../src/log/index.js';
import { resolveConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/log/types.js';
import { mirrorLine } from '../../src/log/stdout-mirror.js';
import { tempDir } from '../helpers/tmp.js';

const opened: Logger[] = [];
afterEach(async () => {
  while (opened.length) await opened.pop()!.close();
});

async function open(extra: Partial<LoggerOptions> = {}): Promise<Logger> {
  const dir = tempDir();
  const log = await createLogger({
    storePath: path.join(dir, 'logs.sqlite'),
    spoolDir: path.join(dir, 'spool'),
    notify: () => {},
    ...extra,
  });
  opened.push(log);
  return log;
}

for (const writer of ['thread', 'inline'] as const) {
  describe(`logger (${writer} writer)`, () => {
    it('writes category entries with the spec fields and resolves with the id once stored', async () => {
      const clock = new ManualClock(Date.UTC(2026, 10, 26, 14, 31, 1, 123));
      const log = await open({ writer, clock });
      const id = await log.order.info('order placed', { orderId: 1042, details: { total: 59.9, items: 3 } });
      expect(id).toMatch(/^\d+$/);
      const e = await log.store.get(id);
      expect(e).toEqual({
        id,
        timestamp: '2026-11-26T14:31:01.123Z',
        level: 'info',
        category: 'order',
        message: 'order placed',
        details: { total: 59.9, items: 3 },
        order_id: '1042',
        error_stack: null,
      });
      for (const cat of [
        'payment',
        'invoice',
        'inventory',
        'admin',
        'email',
        'security',
        'backup',
        'system',
      ] as const) {
        for (const level of ['info', 'warn', 'error', 'critical'] as const) {
          const got = await log.store.get(await log[cat][level](`${cat} ${level}`));
          expect(got).toMatchObject({ category: cat, level, message: `${cat} ${level}` });
        }
      }
      expect((await log.store.get(await log.webhook.warn('plain webhook note')))!.category).toBe('webhook');
      expect((await log.store.get(await log.error.critical('plain error note')))!).toMatchObject({
        category: 'error',
        level: 'critical',
      });
    });

    it('groups many un-awaited calls into few commits and resolves each with its own id', async () => {
      const log = await open({ writer });
      const promises = Array.from({ length: 5000 }, (_, i) =>
        log.inventory.info(`stock moved ${i}`, { details: { i } }),
      );
      const ids = (await Promise.all(promises)).map(Number);
      expect(new Set(ids).size).toBe(5000);
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 1]! + 1);
      expect((await log.store.get(String(ids[4321])))!.details).toEqual({ i: 4321 });
    });

    it('rejects unknown categories with a typed error and accepts configured custom ones', async () => {
      const log = await open({ writer, categories: ['refunds'] });
      expect(() => log.category('nope')).toThrowError(SafetynetError);
      try {
        log.category('nope');
      } catch (err) {
        expect((err as SafetynetError).code).toBe('E_LOG_CATEGORY');
        expect((err as SafetynetError).hint).toContain('refunds');
      }
      const id = await log.category('refunds').warn('refund over limit');
      expect((await log.store.get(id))!.category).toBe('refunds');
    });

    it('logs errors with message, stack and cause chain; never throws for a bad category', async () => {
      const log = await open({ writer });
      const err = new Error('checkout failed', { cause: new TypeError('socket hang up') });
      const id = await log.error(err, { orderId: 7, details: { step: 'pay' } });
      const e = (await log.store.get(id))!;
      expect(e).toMatchObject({
        category: 'error',
        level: 'error',
        message: 'checkout failed: socket hang up',
        order_id: '7',
      });
      expect(e.error_stack).toMatch(/^Error: checkout failed\n {4}at /);
      expect(e.error_stack).toContain('caused by: TypeError: socket hang up');
      expect(e.details).toMatchObject({
        step: 'pay',
        err: { type: 'Error', message: 'checkout failed', cause: { type: 'TypeError' } },
      });
      const id2 = await log.error(new RangeError('bad qty'), {
        category: 'inventory',
        level: 'warn',
        message: 'quantity rejected',
      });
      expect(await log.store.get(id2)).toMatchObject({
        category: 'inventory',
        level: 'warn',
        message: 'quantity rejected',
      });
      const id3 = await log.error('a thrown string', { category: 'no-such-category' });
      expect(await log.store.get(id3)).toMatchObject({
        category: 'error',
        message: 'a thrown string',
        error_stack: null,
        details: { requestedCategory: 'no-such-category', err: { type: 'string', value: 'a thrown string' } },
      });
    });

    it('captures raw webhooks byte-for-byte, redacts secret headers, and records duplicates', async () => {
      const log = await open({ writer });
      const body = '{"id":"evt_1","type":"charge.succeeded",  "data":{"amount":1999}}\r\n';
      const headers = {
        'stripe-signature': 't=1,v1=abc',
        authorization: 'Bearer sk_live_x',
        cookie: 'sid=1',
        'content-type': 'application/json',
        'x-forwarded-for': ['1.2.3.4', '5.6.7.8'],
      };
      const id1 = await log.webhook({
        provider: 'stripe',
        eventId: 'evt_1',
        headers,
        rawBody: body,
        orderId: 77,
      });
      const id2 = await log.webhook({
        provider: 'stripe',
        eventId: 'evt_1',
        headers,
        rawBody: Buffer.from(body),
      });
      const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x41]);
      const id3 = await log.webhook({ provider: 'acme', rawBody: binary });
      const e1 = (await log.store.get(id1))!;
      expect(e1).toMatchObject({ category: 'webhook', level: 'info', order_id: '77' });
      expect(e1.details.rawBody).toBe(body);
      expect(e1.details).toMatchObject({
        provider: 'stripe',
        eventId: 'evt_1',
        rawBodyEncoding: 'utf8',
        rawBodyBytes: Buffer.byteLength(body),
      });
      expect(e1.details.headers).toEqual({
        'stripe-signature': 't=1,v1=abc',
        authorization: '[REDACTED]',
        cookie: '[REDACTED]',
        'content-type': 'application/json',
        'x-forwarded-for': ['1.2.3.4', '5.6.7.8'],
      });
      expect(e1.details.duplicate).toBeUndefined();
      const e2 = (await log.store.get(id2))!;
      expect(Buffer.from(e2.details.rawBody as string, 'utf8').equals(Buffer.from(body))).toBe(true);
      expect(e2.details).toMatchObject({ duplicate: true, duplicateOf: id1 });
      const e3 = (await log.store.get(id3))!;
      expect(e3.details.rawBodyEncoding).toBe('base64');
      expect(Buffer.from(e3.details.rawBody as string, 'base64').equals(binary)).toBe(true);
      expect((await log.store.search({ text: 'charge.succeeded' })).entries.length).toBe(2);
    });

    it('binds order id and details in child loggers', async () => {
      const log = await open({ writer });
      const req = log.child({ orderId: 1042, details: { requestId: 'r-1', password: 'x' } });
      const sub = req.child({ details: { step: 'ship' } });
      const a = await log.store.get(await req.order.info('placed', { details: { total: 5 } }));
      expect(a).toMatchObject({
        order_id: '1042',
        details: { requestId: 'r-1', password: '[REDACTED]', total: 5 },
      });
      const b = await log.store.get(
        await sub.invoice.warn('late', { orderId: 9, details: { requestId: 'override' } }),
      );
      expect(b).toMatchObject({ order_id: '9', details: { requestId: 'override', step: 'ship' } });
      const c = await log.store.get(await sub.error(new Error('x')));
      expect(c).toMatchObject({ order_id: '1042', details: { requestId: 'r-1', step: 'ship' } });
      const d = await log.store.get(await req.webhook({ provider: 'p', rawBody: '{}' }));
      expect(d).toMatchObject({ order_id: '1042', details: { requestId: 'r-1', provider: 'p' } });
      await req.close(); // closing a child only flushes
      expect(await log.order.info('still open')).toMatch(/^\d+$/);
    });

    it('never rejects or throws for unserialisable input, and masks cards in messages', async () => {
      const log = await open({ writer, maxDetailsBytes: 2048 });
      const circ: Record<string, unknown> = {};
      circ.me = circ;
      const ids = await Promise.all([
        log.order.info('circular', { details: circ }),
        log.order.info('bigint', { details: { n: 10n ** 30n } }),
        log.order.info('huge', { details: { blob: 'x'.repeat(100_000) } }),
        log.order.info(undefined as unknown as string),
        log.order.info({ toString: () => 'object message' } as unknown as string),
        log.payment.warn('card 4111 1111 1111 1111 declined\r\nINFO forged line'),
      ]);
      const entries = await Promise.all(ids.map((id) => log.store.get(id)));
      expect(entries[0]!.details).toEqual({ me: '[Circular]' });
      expect(entries[1]!.details).toEqual({ n: (10n ** 30n).toString() });
      expect(entries[2]!.details).toMatchObject({ _truncated: true, _keys: ['blob'] });
      expect(entries[2]!.details._originalBytes).toBeGreaterThan(100_000);
      expect(entries[3]!.message).toBe('undefined');
      expect(entries[4]!.message).toBe('object message');
      expect(entries[5]!.message).toBe('card [REDACTED CARD ****1111] declined\r\nINFO forged line');
    });

    it('keeps entries logged after close: they wait in the spool and are replayed by the next logger', async () => {
      const dir = tempDir();
      const opts = {
        storePath: path.join(dir, 'logs.sqlite'),
        spoolDir: path.join(dir, 'spool'),
        notify: () => {},
        writer,
      };
      const a = await createLogger(opts);
      await a.order.info('before close');
      await a.close();
      const late = await a.order.info('after close');
      expect(late).toMatch(/^spool:/);
      const b = await createLogger(opts);
      opened.push(b);
      await b.order.info('next run');
      await b.flush();
      const msgs = (await b.store.search({})).entries.map((e) => e.message);
      expect(msgs).toEqual(['next run', 'after close', 'before close']);
      expect((await b.store.verifyChain()).ok).toBe(true);
    });
  });
}

describe('logger from configuration', () => {
  it('uses the configured store, spool, custom categories and redaction keys', async () => {
    const dir = tempDir();
    const config = resolveConfig(
      { logs: { categories: ['refunds'], redact: { keys: ['iban'] }, retention: { refunds: 400 } } },
      { file: null, baseDir: dir, env: {} },
    );
    const log = await createLogger({ config, notify: () => {} });
    opened.push(log);
    const id = await log
      .category('refunds')
      .info('refund sent', { details: { iban: 'DE89370400440532013000' } });
    expect((await log.store.get(id))!.details).toEqual({ iban: '[REDACTED]' });
    expect(config.logs.store.path).toBe(path.join(dir, 'data/logs.sqlite'));
  });
});

describe('stdout mirror', () => {
  it('prints each stored entry as one pino-style JSON line', async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const log = await open({ writer: 'inline', stdout: true, clock: new ManualClock(1_700_000_000_000) });
      const id = await log.payment.critical('card declined\nforged', { orderId: 5, details: { a: 1 } });
      await log.flush();
      const line = writes
        .join('')
        .split('\n')
        .find((l) => l.includes('card declined'))!;
      const o = JSON.parse(line);
      expect(o).toMatchObject({
        level: 60,
        time: 1_700_000_000_000,
        pid: process.pid,
        id,
        category: 'payment',
        order_id: '5',
        details: { a: 1 },
        msg: 'card declined\nforged',
      });
      expect(typeof o.hostname).toBe('string');
      expect(line).not.toContain('\n');
    } finally {
      spy.mockRestore();
    }
  });

  it('formats errors like pino (err.stack) and maps levels to pino numbers', () => {
    const row = {
      ts: 1,
      level: 'warn' as const,
      category: 'error',
      message: 'm',
      details: '{}',
      orderId: null,
      errorStack: 'Error: x\n at y',
    };
    expect(JSON.parse(mirrorLine(row, '3'))).toMatchObject({
      level: 40,
      err: { stack: 'Error: x\n at y' },
      msg: 'm',
    });
    expect(mirrorLine(row, '3').endsWith('}\n')).toBe(true);
  });
});
