/**
 * safetynet/express against a real Express 5 app over real HTTP (supertest-style: listen on port 0,
 * fetch), with a real log store and Stripe's real signing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { adminAction, safetynet } from '../../src/integrations/express.js';
import type { Logger } from '../../src/index.js';
import { WEBHOOK_SECRET, entries, sign, stripeEvent, stripeVerify, testLogger } from './helpers.js';

const open: { server: Server; log: Logger }[] = [];
afterEach(async () => {
  for (const { server, log } of open.splice(0)) {
    await new Promise((r) => server.close(r));
    await log.close();
  }
});

async function shop(options: Record<string, unknown> = {}) {
  const { log } = await testLogger();
  const sn = safetynet({
    logger: log,
    webhooks: [{ url: '/webhooks/stripe', provider: 'stripe', verify: stripeVerify }],
    actor: (req) => (req as { headers: Record<string, string> }).headers['x-admin'],
    ...options,
  });
  const app = express();
  const seen: { body?: unknown; event?: unknown } = {};
  app.use(sn.middleware);
  app.use(express.json());
  app.post('/webhooks/stripe', (req, res) => {
    seen.body = req.body;
    seen.event = req.safetynetWebhook?.event;
    res.json({ received: true });
  });
  app.post('/orders', (req, res) => {
    seen.body = req.body;
    res.json({ ok: true });
  });
  app.get('/orders/:orderId', async (req, res) => {
    await req.safetynet!.order.info('order viewed');
    res.json({ ok: true });
  });
  app.post('/orders/:orderId/fail', () => {
    throw new Error('invoice renderer crashed', { cause: new Error('disk full') });
  });
  app.get('/admin', (_req, res) => void res.status(403).json({ error: 'no' }));
  app.get('/orders/:orderId/async-fail', async () => {
    await new Promise((r) => setTimeout(r, 1));
    throw new Error('async failure');
  });
  app.post('/admin/refund/:orderId', async (req, res) => {
    await adminAction(req, 'refund', { target: `order ${req.params.orderId}`, outcome: 'failure' });
    res.json({ refunded: false });
  });
  app.use(sn.errorHandler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  open.push({ server, log });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, log, seen };
}

describe('safetynet/express', () => {
  it('binds request id, route and order id to req.safetynet; other routes keep express.json()', async () => {
    const { base, log, seen } = await shop();
    expect((await fetch(`${base}/orders/1042`)).status).toBe(200);
    const r = await fetch(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"sku":"TEE-1"}',
    });
    expect(r.status).toBe(200);
    expect(seen.body).toEqual({ sku: 'TEE-1' });
    const [entry] = (await entries(log)).filter((e) => e.category === 'order');
    expect(entry!.order_id).toBe('1042');
    expect(entry!.details).toMatchObject({ method: 'GET', route: '/orders/:orderId' });
    expect(entry!.details.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('captures a signed webhook exactly and parses it for the route; a bad signature is a security warning', async () => {
    const { base, log, seen } = await shop();
    const body = stripeEvent('evt_x1', 9);
    const ok = await fetch(`${base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(body) },
      body,
    });
    expect(ok.status).toBe(200);
    expect((seen.body as { id: string }).id).toBe('evt_x1');
    expect((seen.event as { id: string }).id).toBe('evt_x1');
    seen.body = undefined;
    const forged = stripeEvent('evt_x2', 9);
    const bad = await fetch(`${base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(forged, 'whsec_other_0000') },
      body: forged,
    });
    expect(bad.status).toBe(400);
    expect(seen.body).toBeUndefined();
    const all = await entries(log);
    const hooks = all.filter((e) => e.category === 'webhook');
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.details.rawBody).toBe(body);
    expect(hooks[0]!.order_id).toBe('9');
    const [warning] = all.filter((e) => e.category === 'security');
    expect(warning!.details).toMatchObject({ provider: 'stripe', eventId: 'evt_x2', ip: '127.0.0.1' });
    expect(JSON.stringify(all)).not.toContain(WEBHOOK_SECRET.slice(-4));
  });

  it('checks the signature however the path is spelt (Express routes case-insensitively, trailing slash or not)', async () => {
    const { base, seen } = await shop();
    const forged = stripeEvent('evt_sneaky', 9);
    for (const url of ['/WEBHOOKS/Stripe', '/webhooks/stripe/', '/webhooks/stripe?x=1']) {
      const r = await fetch(base + url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(forged, 'whsec_other_0000') },
        body: forged,
      });
      expect(r.status, url).toBe(400);
    }
    expect(seen.body).toBeUndefined();
  });

  it('refuses a webhook body over the limit with 413', async () => {
    const { base } = await shop({ webhookBodyLimit: 100 });
    const body = stripeEvent('evt_big', 1);
    const r = await fetch(`${base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(body) },
      body,
    });
    expect(r.status).toBe(413);
  });

  it('logs a thrown error with its causes and route, never the cookie, authorization or body', async () => {
    const { base, log } = await shop();
    const r = await fetch(`${base}/orders/31/fail`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: 'sid=sess-secret-cookie',
        authorization: 'Bearer tok-secret-auth',
      },
      body: '{"password":"body-secret-pw"}',
    });
    expect(r.status).toBe(500);
    const errors = (await entries(log)).filter((e) => e.category === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error_stack).toContain('caused by: Error: disk full');
    expect(errors[0]!.order_id).toBe('31');
    expect(errors[0]!.details).toMatchObject({ method: 'POST', route: '/orders/:orderId/fail', status: 500 });
    const text = JSON.stringify(errors);
    for (const secret of ['sess-secret-cookie', 'tok-secret-auth', 'body-secret-pw'])
      expect(text).not.toContain(secret);
    // Express 5 hands a rejected async handler to the error handler too.
    expect((await fetch(`${base}/orders/32/async-fail`)).status).toBe(500);
    const later = (await entries(log)).filter((e) => e.category === 'error');
    expect(later[1]).toMatchObject({ message: 'async failure', order_id: '32' });
  });

  it('warns about a burst of 403 and records a failed admin action as a warning', async () => {
    const { base, log } = await shop({ authFailures: { threshold: 4 } });
    for (let i = 0; i < 6; i++) expect((await fetch(`${base}/admin`)).status).toBe(403);
    const r = await fetch(`${base}/admin/refund/12`, { method: 'POST', headers: { 'x-admin': 'bob' } });
    expect(r.status).toBe(200);
    const all = await entries(log);
    const security = all.filter((e) => e.category === 'security');
    expect(security).toHaveLength(1);
    expect(security[0]!.details).toMatchObject({ count: 4, lastStatus: 403 });
    const [admin] = all.filter((e) => e.category === 'admin');
    expect(admin!.level).toBe('warn');
    expect(admin!.order_id).toBe('12');
    expect(admin!.details).toMatchObject({
      actor: 'bob',
      action: 'refund',
      outcome: 'failure',
      route: '/admin/refund/:orderId',
    });
  });
});

describe('the package entry points', () => {
  it('resolve by name from dist/ as a shop imports them', async () => {
    const fastifyEntry = await import('safetynet/fastify');
    const expressEntry = await import('safetynet/express');
    const pinoEntry = await import('safetynet/pino');
    expect(typeof fastifyEntry.default).toBe('function');
    expect(typeof fastifyEntry.adminAction).toBe('function');
    expect(typeof expressEntry.safetynet).toBe('function');
    expect(typeof pinoEntry.default).toBe('function');
    expect(() => expressEntry.safetynet({} as never)).toThrow(/logger/);
  });
});
