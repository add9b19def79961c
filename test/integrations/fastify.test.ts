/**
 * safetynet/fastify against a real Fastify app and a real log store: request ids, raw webhook
 * capture with Stripe's real signing, errors, 401/403 bursts, admin actions, encapsulation, and
 * one run over a real socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import safetynet, { adminAction } from '../../src/integrations/fastify.js';
import type { Logger } from '../../src/index.js';
import { WEBHOOK_SECRET, entries, sign, stripeEvent, stripeVerify, testLogger } from './helpers.js';

const open: { app: FastifyInstance; log: Logger }[] = [];
afterEach(async () => {
  for (const { app, log } of open.splice(0)) {
    await app.close();
    await log.close();
  }
});

async function shop(options: Record<string, unknown> = {}) {
  const { log } = await testLogger();
  const app = Fastify();
  open.push({ app, log });
  await app.register(safetynet, {
    logger: log,
    webhooks: [{ url: '/webhooks/stripe', provider: 'stripe', verify: stripeVerify }],
    actor: (req) => (req as { headers: Record<string, string> }).headers['x-admin'],
    ...options,
  });
  const seen: { body?: unknown; event?: unknown } = {};
  app.post('/webhooks/stripe', async (request) => {
    seen.body = request.body;
    seen.event = request.safetynetWebhook?.event;
    return { received: true };
  });
  app.get('/orders/:orderId', async (request) => {
    await request.safetynet.order.info('order viewed');
    return { ok: true };
  });
  app.post('/orders/:orderId/fail', async () => {
    throw new Error('invoice renderer crashed', { cause: new Error('disk full') });
  });
  app.get('/busy', async (_request, reply) => reply.code(503).send({ error: 'try later' }));
  app.get('/missing', async (_request, reply) => reply.code(404).send({ error: 'no' }));
  app.get('/admin', async (_request, reply) => reply.code(401).send({ error: 'login' }));
  app.post('/admin/refund/:orderId', async (request) => {
    await adminAction(request, 'refund', {
      target: `order ${(request.params as { orderId: string }).orderId}`,
      amount: 59.9,
    });
    return { refunded: true };
  });
  return { app, log, seen };
}

describe('safetynet/fastify', () => {
  it('binds a fresh request id, the route and the order id to request.safetynet', async () => {
    const { app, log } = await shop();
    const a = await app.inject({ url: '/orders/1042', headers: { 'x-request-id': 'client-chosen' } });
    const b = await app.inject({ url: '/orders/1043' });
    expect(a.statusCode).toBe(200);
    expect(b.statusCode).toBe(200);
    const [first, second] = (await entries(log)).filter((e) => e.category === 'order');
    expect(first!.order_id).toBe('1042');
    expect(first!.details.route).toBe('/orders/:orderId');
    expect(first!.details.method).toBe('GET');
    // Without requestIdHeader, a client cannot choose its id.
    expect(first!.details.requestId).not.toBe('client-chosen');
    expect(first!.details.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(second!.details.requestId).not.toBe(first!.details.requestId);
  });

  it('reuses a trusted proxy header as the request id only when configured', async () => {
    const { app, log } = await shop({ requestIdHeader: 'X-Request-Id' });
    await app.inject({ url: '/orders/7', headers: { 'x-request-id': 'lb-1234' } });
    await app.inject({ url: '/orders/8', headers: { 'x-request-id': 'bad id\nwith newline' } });
    const [a, b] = (await entries(log)).filter((e) => e.category === 'order');
    expect(a!.details.requestId).toBe('lb-1234');
    expect(b!.details.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('captures a signed webhook byte for byte, marks a redelivery duplicate, and the route still gets its body', async () => {
    const { app, log, seen } = await shop();
    const body = stripeEvent('evt_1', 1042);
    const headers = { 'content-type': 'application/json', 'stripe-signature': sign(body) };
    const r = await app.inject({ method: 'POST', url: '/webhooks/stripe', headers, payload: body });
    expect(r.statusCode).toBe(200);
    expect((seen.body as { id: string }).id).toBe('evt_1');
    expect((seen.event as { type: string }).type).toBe('payment_intent.succeeded');
    const again = await app.inject({ method: 'POST', url: '/webhooks/stripe', headers, payload: body });
    expect(again.statusCode).toBe(200);
    const hooks = (await entries(log)).filter((e) => e.category === 'webhook');
    expect(hooks).toHaveLength(2);
    expect(hooks[0]!.details.rawBody).toBe(body);
    expect(hooks[0]!.details.eventId).toBe('evt_1');
    expect(hooks[0]!.order_id).toBe('1042');
    expect(hooks[0]!.details.duplicate).toBeUndefined();
    expect(hooks[1]!.details.duplicate).toBe(true);
  });

  it('checks the signature on every spelling the router accepts', async () => {
    const { log } = await testLogger();
    const app = Fastify({ routerOptions: { ignoreTrailingSlash: true, caseSensitive: false } });
    open.push({ app, log });
    await app.register(safetynet, {
      logger: log,
      webhooks: [{ url: '/webhooks/stripe', provider: 'stripe', verify: stripeVerify }],
    });
    let ran = 0;
    app.post('/webhooks/stripe', async () => ({ ran: ++ran }));
    const forged = stripeEvent('evt_sneaky', 1);
    for (const url of ['/WEBHOOKS/stripe', '/webhooks/stripe/', '/webhooks/%73tripe']) {
      const r = await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(forged, 'whsec_nope_1234') },
        payload: forged,
      });
      expect(r.statusCode, url).toBe(400);
    }
    expect(ran).toBe(0);
  });

  it('turns a bad signature into a security warning without the secret, and answers 400', async () => {
    const { app, log, seen } = await shop();
    const body = stripeEvent('evt_forged', 1042);
    const r = await app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': sign(body, 'whsec_wrong_secret_ffff'),
      },
      payload: body,
    });
    expect(r.statusCode).toBe(400);
    expect(seen.body).toBeUndefined();
    const all = await entries(log);
    expect(all.filter((e) => e.category === 'webhook')).toHaveLength(0);
    const [warning] = all.filter((e) => e.category === 'security');
    expect(warning!.level).toBe('warn');
    expect(warning!.details).toMatchObject({ provider: 'stripe', eventId: 'evt_forged', ip: '127.0.0.1' });
    const text = JSON.stringify(all);
    expect(text).not.toContain(WEBHOOK_SECRET);
    expect(text).not.toContain(WEBHOOK_SECRET.slice(-4));
    expect(text).not.toContain('whsec_wrong');
  });

  it('with rejectInvalid: false runs the route on a bad signature, without a verified event', async () => {
    const { log } = await testLogger();
    const app = Fastify();
    open.push({ app, log });
    await app.register(safetynet, {
      logger: log,
      webhooks: [{ url: '/hook', provider: 'stripe', verify: stripeVerify, rejectInvalid: false }],
    });
    app.post('/hook', async (request) => ({ verified: request.safetynetWebhook !== undefined }));
    const body = stripeEvent('evt_soft', 1);
    const r = await app.inject({
      method: 'POST',
      url: '/hook',
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
      payload: body,
    });
    expect(r.json()).toEqual({ verified: false });
    const all = await entries(log);
    expect(all.map((e) => e.category)).toEqual(['security']);
  });

  it('logs thrown errors and 5xx with stack, causes, route, status, order id — never bodies, cookies or authorization', async () => {
    const { app, log } = await shop();
    const r = await app.inject({
      method: 'POST',
      url: '/orders/77/fail',
      headers: { cookie: 'session=sess-secret-cookie', authorization: 'Bearer tok-secret-auth' },
      payload: { password: 'body-secret-pw' },
    });
    expect(r.statusCode).toBe(500);
    expect((await app.inject({ url: '/busy' })).statusCode).toBe(503);
    expect((await app.inject({ url: '/missing' })).statusCode).toBe(404);
    const errors = (await entries(log)).filter((e) => e.category === 'error');
    expect(errors).toHaveLength(2);
    const [thrown, busy] = errors;
    expect(thrown!.message).toBe('invoice renderer crashed: disk full');
    expect(thrown!.error_stack).toContain('caused by: Error: disk full');
    expect(thrown!.order_id).toBe('77');
    expect(thrown!.details).toMatchObject({ method: 'POST', route: '/orders/:orderId/fail', status: 500 });
    expect(typeof thrown!.details.requestId).toBe('string');
    expect(busy!.message).toBe('GET /busy answered 503');
    const text = JSON.stringify(errors);
    for (const secret of ['sess-secret-cookie', 'tok-secret-auth', 'body-secret-pw'])
      expect(text).not.toContain(secret);
  });

  it('warns once per window about a burst of 401/403 from one address, with bounded memory', async () => {
    const { app, log } = await shop({ authFailures: { threshold: 3, windowMs: 60_000, maxAddresses: 2 } });
    for (let i = 0; i < 5; i++) await app.inject({ url: '/admin', remoteAddress: '10.0.0.9' });
    await app.inject({ url: '/admin', remoteAddress: '10.0.0.10' });
    const warnings = (await entries(log)).filter((e) => e.category === 'security');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.details).toMatchObject({ ip: '10.0.0.9', count: 3, lastStatus: 401 });
  });

  it('adminAction writes who, what, when, where and the outcome', async () => {
    const { app, log } = await shop();
    const r = await app.inject({
      method: 'POST',
      url: '/admin/refund/1042',
      headers: { 'x-admin': 'alice', 'user-agent': 'test-agent' },
    });
    expect(r.statusCode).toBe(200);
    const [entry] = (await entries(log)).filter((e) => e.category === 'admin');
    expect(entry!.message).toBe('alice: refund order 1042 (success)');
    expect(entry!.order_id).toBe('1042');
    expect(entry!.details).toMatchObject({
      actor: 'alice',
      action: 'refund',
      outcome: 'success',
      target: 'order 1042',
      ip: '127.0.0.1',
      method: 'POST',
      route: '/admin/refund/:orderId',
      userAgent: 'test-agent',
      amount: 59.9,
    });
    expect(Date.parse(entry!.timestamp)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('respects encapsulation: registered in one scope, a sibling scope is untouched', async () => {
    const { log } = await testLogger();
    const app = Fastify();
    open.push({ app, log });
    await app.register(async (scope) => {
      await scope.register(safetynet, { logger: log });
      scope.get('/inside', async () => {
        throw new Error('inside failed');
      });
    });
    await app.register(async (sibling) => {
      sibling.get('/outside', async (request) => {
        expect(() => request.safetynet).toThrow(TypeError);
        throw new Error('outside failed');
      });
    });
    expect((await app.inject({ url: '/inside' })).statusCode).toBe(500);
    expect((await app.inject({ url: '/outside' })).statusCode).toBe(500);
    const errors = (await entries(log)).filter((e) => e.category === 'error');
    expect(errors.map((e) => e.message)).toEqual(['inside failed']);
  });

  it('refuses a webhook body over the limit with 413, and adminAction outside the plugin is a clear TypeError', async () => {
    const { app } = await shop({ webhookBodyLimit: 64 });
    const body = stripeEvent('evt_big', 1);
    const r = await app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(body) },
      payload: body,
    });
    expect(r.statusCode).toBe(413);
    const bare = Fastify();
    bare.get('/', async (request) => adminAction(request, 'x'));
    const res = await bare.inject({ url: '/' });
    expect(res.statusCode).toBe(500);
    expect(res.json().message).toMatch(/not seen by the safetynet plugin/);
    await bare.close();
  });

  it('works over a real socket', async () => {
    const { app, log } = await shop();
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const body = stripeEvent('evt_socket', 5);
    const r = await fetch(`${address}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(body) },
      body,
    });
    expect(r.status).toBe(200);
    expect((await fetch(`${address}/orders/5/fail`, { method: 'POST' })).status).toBe(500);
    const all = await entries(log);
    expect(all.find((e) => e.category === 'webhook')!.details.rawBody).toBe(body);
    expect(all.find((e) => e.category === 'error')!.order_id).toBe('5');
  });
});
