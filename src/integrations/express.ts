/**
 * `safetynet/express`: middleware for Express (4 or 5) and anything with the same
 * `(req, res, next)` shape.
 *
 *   import { safetynet } from 'safetynet/express';
 *   const sn = safetynet({ logger: log, webhooks: [{ url: '/webhooks/stripe', provider: 'stripe', verify }] });
 *   app.use(sn.middleware);      // before express.json(): webhook bodies are read raw here
 *   app.use(express.json());
 *   // routes: req.safetynet.order.info(…), adminAction(req, 'refund', { … })
 *   app.use(sn.errorHandler);    // after the routes: records the thrown error, then passes it on
 *
 * On a webhook route the middleware reads the body itself (exact bytes), verifies and logs it,
 * then sets `req.body` (parsed JSON, form fields, or the raw Buffer) so body parsers skip it and
 * the route still gets its parsed body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import {
  BodyTooLarge,
  RequestLogging,
  readBody,
  type AdminActionDetails,
  type IntegrationOptions,
  type RequestContext,
  type RequestFacts,
} from './core.js';

export type { AdminActionDetails, IntegrationOptions, WebhookRoute } from './core.js';
export type SafetynetExpressOptions = IntegrationOptions;

/** The request as the middleware sees it (Express's `Request` fits). */
export interface ExpressLikeRequest extends IncomingMessage {
  ip?: string | undefined;
  path?: string;
  baseUrl?: string;
  originalUrl?: string;
  route?: { path?: unknown } | undefined;
  params?: Record<string, unknown>;
  body?: unknown;
}

type Next = (err?: unknown) => void;

/** What `safetynet(…)` returns. */
export interface SafetynetExpress {
  /** Mount first: request id, child logger, webhook capture, error/401/403 accounting. */
  middleware: (req: ExpressLikeRequest, res: ServerResponse, next: Next) => void;
  /** Mount after the routes: records the error for the log entry, then calls `next(err)`. */
  errorHandler: (err: unknown, req: ExpressLikeRequest, res: ServerResponse, next: Next) => void;
}

interface State {
  core: RequestLogging;
  ctx: RequestContext;
  child?: Logger;
}

const STATE = Symbol('safetynet.state');
type WithState = ExpressLikeRequest & { [STATE]?: State };

declare module 'http' {
  interface IncomingMessage {
    /** The request-scoped safetynet logger (set by `safetynet/express`'s middleware). */
    readonly safetynet?: Logger;
    /** The verified webhook on configured webhook routes (set by `safetynet/express`). */
    readonly safetynetWebhook?: RequestContext['webhook'];
  }
}

function pathOf(req: ExpressLikeRequest): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function factsOf(req: ExpressLikeRequest): RequestFacts {
  return {
    method: req.method ?? 'GET',
    path: pathOf(req),
    route: undefined,
    ip: req.ip ?? req.socket?.remoteAddress,
    headers: req.headers,
    params: undefined,
  };
}

/** After routing, Express knows the route pattern and its parameters. */
function refresh(req: ExpressLikeRequest, ctx: RequestContext): void {
  if (req.route && typeof req.route.path === 'string') {
    ctx.facts.route = (req.baseUrl ?? '') + req.route.path;
  }
  if (req.params && Object.keys(req.params).length > 0) ctx.facts.params = { ...req.params };
  else if (!ctx.facts.params && ctx.facts.route)
    ctx.facts.params = paramsFromPattern(ctx.facts.route, ctx.facts.path);
}

/**
 * Express resets `req.params` once a request leaves its route, so an app-level error handler sees
 * `{}`; the route pattern is still known, and its `:name` segments give the values back.
 */
function paramsFromPattern(pattern: string, path: string): Record<string, unknown> | undefined {
  const names: string[] = [];
  const source = pattern
    .split('/')
    .map((seg) => {
      const m = /^:(\w+)$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1]!);
      return '([^/]+)';
    })
    .join('/');
  if (names.length === 0) return undefined;
  const hit = new RegExp(`^${source}/?$`).exec(path);
  if (!hit) return undefined;
  const out: Record<string, unknown> = {};
  names.forEach((n, i) => {
    try {
      out[n] = decodeURIComponent(hit[i + 1]!);
    } catch {
      out[n] = hit[i + 1];
    }
  });
  return out;
}

function parsedBody(req: IncomingMessage, raw: Buffer): unknown {
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  if (type.includes('json')) {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      return raw;
    }
  }
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  return raw;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** Builds the middleware pair for one logger and option set. */
export function safetynet(options: SafetynetExpressOptions): SafetynetExpress {
  const core = new RequestLogging(options);

  const middleware = (req: ExpressLikeRequest, res: ServerResponse, next: Next): void => {
    const state: State = { core, ctx: core.begin(factsOf(req)) };
    (req as WithState)[STATE] = state;
    if (!Object.prototype.hasOwnProperty.call(req, 'safetynet')) {
      Object.defineProperty(req, 'safetynet', {
        configurable: true,
        get: () => {
          refresh(req, state.ctx);
          return (state.child ??= core.childFor(state.ctx));
        },
      });
      Object.defineProperty(req, 'safetynetWebhook', { configurable: true, get: () => state.ctx.webhook });
    }
    res.on('finish', () => {
      refresh(req, state.ctx);
      core.finish(state.ctx, res.statusCode);
    });
    const route = core.webhookFor(state.ctx.facts.method, state.ctx.facts.path);
    if (!route) return next();
    readBody(req, core.bodyLimit)
      .then(async (raw) => {
        const proceed = await core.handleWebhook(state.ctx, route, raw);
        if (!proceed) return sendJson(res, 400, { error: 'invalid webhook signature' });
        req.body = parsedBody(req, raw);
        next();
      })
      .catch((err: unknown) => {
        if (err instanceof BodyTooLarge) {
          req.resume();
          sendJson(res, 413, { error: err.message });
        } else next(err);
      });
  };

  const errorHandler = (err: unknown, req: ExpressLikeRequest, _res: ServerResponse, next: Next): void => {
    const state = (req as WithState)[STATE];
    if (state) {
      state.ctx.error = err;
      refresh(req, state.ctx);
    }
    next(err);
  };

  return { middleware, errorHandler };
}

/**
 * Logs an admin action with the PCI DSS 10.2 fields (who, what, when, where, outcome); see
 * `safetynet/fastify`'s `adminAction`. Resolves once the entry is durable.
 */
export function adminAction(
  req: ExpressLikeRequest,
  action: string,
  details?: AdminActionDetails,
): Promise<string> {
  const state = (req as WithState)[STATE];
  if (!state) {
    throw new TypeError('safetynet: this request did not pass through safetynet(…).middleware');
  }
  refresh(req, state.ctx);
  return state.core.adminAction(state.ctx, req, action, details);
}
