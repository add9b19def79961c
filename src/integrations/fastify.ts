/**
 * `safetynet/fastify`: the Fastify plugin.
 *
 *   import safetynet, { adminAction } from 'safetynet/fastify';
 *   await app.register(safetynet, { logger: log, webhooks: [{ url: '/webhooks/stripe', provider: 'stripe', verify }] });
 *   app.get('/orders/:orderId', async (request) => { request.safetynet.order.info('viewed'); … });
 *
 * Wrapped with fastify-plugin, so its hooks and the `request.safetynet` decorator apply to the
 * scope it is registered in and that scope's children — register it at the root for the whole
 * shop, or inside one `register` block for just those routes; sibling scopes are untouched.
 *
 * Raw capture runs in `preParsing`: the webhook's bytes are read, verified and logged, then handed
 * on as a fresh stream, so the shop's own content-type parser still gives the route its body.
 */
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from '../log/index.js';
import {
  RequestLogging,
  readBody,
  type AdminActionDetails,
  type IntegrationOptions,
  type RequestContext,
  type RequestFacts,
} from './core.js';

export type { AdminActionDetails, IntegrationOptions, WebhookRoute } from './core.js';
export type SafetynetFastifyOptions = IntegrationOptions;

/** The verified webhook event a route receives on `request.safetynetWebhook`. */
export interface VerifiedWebhook {
  provider: string;
  eventId: string | undefined;
  /** What the verifier returned (e.g. Stripe's Event), or the parsed JSON body without a verifier. */
  event: unknown;
  /** The body exactly as received. */
  rawBody: Buffer;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request-scoped safetynet logger (request id, method, route, order id bound). */
    readonly safetynet: Logger;
    /** Set on configured webhook routes once the body was captured (and verified). */
    readonly safetynetWebhook: VerifiedWebhook | undefined;
  }
}

interface State {
  core: RequestLogging;
  ctx: RequestContext;
  child?: Logger;
}

const STATE = Symbol('safetynet.state');
type WithState = FastifyRequest & { [STATE]?: State };

function factsOf(request: FastifyRequest): RequestFacts {
  const url = request.url;
  const q = url.indexOf('?');
  return {
    method: request.method,
    path: q === -1 ? url : url.slice(0, q),
    route: request.routeOptions?.url,
    ip: request.ip,
    headers: request.headers,
    params: (request.params ?? undefined) as Record<string, unknown> | undefined,
  };
}

function stateOf(request: FastifyRequest): State {
  const s = (request as WithState)[STATE];
  if (!s) {
    throw new TypeError(
      'safetynet: this request was not seen by the safetynet plugin (register it in this scope, before the routes)',
    );
  }
  return s;
}

const plugin: FastifyPluginAsync<SafetynetFastifyOptions> = async (app, options) => {
  const core = new RequestLogging(options);

  app.decorateRequest('safetynet', {
    getter(this: FastifyRequest): Logger {
      const s = stateOf(this);
      return (s.child ??= core.childFor(s.ctx));
    },
  });
  app.decorateRequest('safetynetWebhook', {
    getter(this: FastifyRequest): VerifiedWebhook | undefined {
      return (this as WithState)[STATE]?.ctx.webhook;
    },
  });

  app.addHook('onRequest', async (request) => {
    (request as WithState)[STATE] = { core, ctx: core.begin(factsOf(request)) };
  });

  app.addHook('preParsing', async (request, reply, payload) => {
    const s = (request as WithState)[STATE]!;
    const pattern = request.routeOptions?.url;
    const route =
      core.webhookFor(request.method, s.ctx.facts.path) ??
      (pattern !== undefined ? core.webhookFor(request.method, pattern) : undefined);
    if (!route) return payload;
    const limit = Math.min(core.bodyLimit, request.routeOptions.bodyLimit ?? core.bodyLimit);
    const raw = await readBody(payload, limit);
    const proceed = await core.handleWebhook(s.ctx, route, raw);
    if (!proceed) {
      await reply.code(400).send({ error: 'invalid webhook signature' });
      return payload;
    }
    const again = Readable.from([raw]) as Readable & { receivedEncodedLength?: number };
    again.receivedEncodedLength = raw.length;
    return again;
  });

  app.addHook('onError', async (request, _reply, error) => {
    const s = (request as WithState)[STATE];
    if (s) s.ctx.error = error;
  });

  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const s = (request as WithState)[STATE];
    if (!s) return;
    // The route is known by now even when onRequest ran before routing details were final.
    s.ctx.facts.route = request.routeOptions?.url ?? s.ctx.facts.route;
    s.core.finish(s.ctx, reply.statusCode);
  });
};

/** The plugin (default export), for `app.register(safetynet, { logger, … })`. */
const safetynet = fp(plugin, { fastify: '5.x', name: 'safetynet' });
export default safetynet;
export { safetynet };

/**
 * Logs an admin action with the PCI DSS 10.2 fields — who (`details.actor` or the `actor`
 * option), what (`action`, `target`), when (the entry's timestamp), where (address, route, request
 * id, user agent) and the outcome. Resolves once the entry is durable.
 */
export function adminAction(
  request: FastifyRequest,
  action: string,
  details?: AdminActionDetails,
): Promise<string> {
  const s = stateOf(request);
  return s.core.adminAction(s.ctx, request, action, details);
}
