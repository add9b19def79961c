/**
 * The request-logging core shared by the Fastify plugin and the Express middleware.
 *
 * Framework code only translates its request/reply into the small shapes below; everything about
 * what gets logged (and what never does: bodies, cookies, authorization) lives here, once.
 * Only the public logger API is used: `child`, `webhook`, `error`, `security`, `admin`.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../log/index.js';
import { BurstCounter, type BurstOptions } from './burst.js';

/** Headers as Node gives them. */
export type Headers = Record<string, string | string[] | undefined>;

/** One webhook route whose raw body is captured (and optionally verified) before any parsing. */
export interface WebhookRoute {
  /** The path as requested, without the query string, e.g. `/webhooks/stripe`. */
  url: string;
  /** Who sends it, e.g. `stripe`; stored with the capture and in security warnings. */
  provider: string;
  /** HTTP method (default POST). */
  method?: string;
  /**
   * Checks the signature over the exact bytes, e.g.
   * `(raw, h) => stripe.webhooks.constructEvent(raw, h['stripe-signature'], secret)`.
   * Throw (or reject) when it fails; the returned value (the verified event) is handed to the route.
   */
  verify?: (rawBody: Buffer, headers: Headers) => unknown;
  /** The order id of an event (default: `metadata.orderId`/`order_id` of `data.object`, if any). */
  orderId?: (event: unknown) => string | number | undefined;
  /** Answer a failed signature with 400 without running the route (default true). */
  rejectInvalid?: boolean;
}

/** Options shared by `safetynet/fastify` and `safetynet/express`. */
export interface IntegrationOptions {
  /** The safetynet logger (`createLogger(…)`). */
  logger: Logger;
  /** Routes whose raw bodies are captured through `log.webhook`. */
  webhooks?: WebhookRoute[];
  /**
   * Header holding a request id set by a proxy you trust (e.g. `x-request-id`). Unset (the
   * default): every request gets a fresh random id and client-sent ids are ignored.
   */
  requestIdHeader?: string;
  /** Route parameters holding an order id (default `orderId`, `order_id`). */
  orderIdParams?: string[];
  /** Bursts of 401/403 from one address; `false` turns the warning off. */
  authFailures?: Partial<BurstOptions> | false;
  /** Largest webhook body read, bytes (default 1 MiB); a larger one is answered 413. */
  webhookBodyLimit?: number;
  /** Who is acting on an admin route (for `adminAction` when `details.actor` is not given). */
  actor?: (request: unknown) => string | undefined;
}

/** What the frameworks tell the core about a request. */
export interface RequestFacts {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Route pattern (`/orders/:orderId`) when known. */
  route: string | undefined;
  ip: string | undefined;
  headers: Headers;
  params: Record<string, unknown> | undefined;
}

/** Per-request state the frameworks keep on their request object. */
export interface RequestContext {
  readonly requestId: string;
  facts: RequestFacts;
  /** The thrown error, when a handler threw. */
  error?: unknown;
  /** The verified webhook event (or the parsed body when no verifier is set). */
  webhook?: { provider: string; eventId: string | undefined; event: unknown; rawBody: Buffer };
}

/** PCI DSS 10.2 fields of one admin action, beyond the action name. */
export interface AdminActionDetails {
  /** Who did it (default: the `actor` option, else `unknown`). */
  actor?: string;
  /** `success` (default) or `failure`; failures are logged as warnings. */
  outcome?: 'success' | 'failure';
  /** What was acted on, e.g. `order 1042` or `user bob`. */
  target?: string;
  /** The order concerned (default: the route's order id parameter). */
  orderId?: string | number;
  /** Anything else worth keeping (redacted like every detail). */
  [key: string]: unknown;
}

const SAFE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** The shared behaviour; one instance per registered plugin / middleware. */
export class RequestLogging {
  readonly log: Logger;
  readonly bodyLimit: number;
  private readonly webhooks: Map<string, WebhookRoute>;
  private readonly orderIdParams: string[];
  private readonly requestIdHeader: string | undefined;
  private readonly bursts: BurstCounter | undefined;
  private readonly actor: ((request: unknown) => string | undefined) | undefined;

  constructor(options: IntegrationOptions) {
    if (!options || typeof options.logger?.child !== 'function') {
      throw new TypeError('safetynet: the `logger` option is required (const log = await createLogger(…))');
    }
    this.log = options.logger;
    this.bodyLimit = options.webhookBodyLimit ?? DEFAULT_BODY_LIMIT;
    this.webhooks = new Map();
    for (const w of options.webhooks ?? []) {
      if (typeof w.url !== 'string' || !w.url.startsWith('/') || !w.provider) {
        throw new TypeError(`safetynet: webhook route needs a url starting with "/" and a provider`);
      }
      this.webhooks.set(webhookKey(w.method ?? 'POST', w.url), w);
    }
    this.orderIdParams = options.orderIdParams ?? ['orderId', 'order_id'];
    this.requestIdHeader = options.requestIdHeader?.toLowerCase();
    this.bursts = options.authFailures === false ? undefined : new BurstCounter(options.authFailures ?? {});
    this.actor = options.actor;
  }

  /** Starts a request: picks its request id. */
  begin(facts: RequestFacts): RequestContext {
    return { requestId: this.requestIdOf(facts.headers), facts };
  }

  private requestIdOf(headers: Headers): string {
    if (this.requestIdHeader) {
      const v = headers[this.requestIdHeader];
      const s = Array.isArray(v) ? v[0] : v;
      if (s && SAFE_REQUEST_ID.test(s)) return s;
    }
    return randomUUID();
  }

  /** The order id of a request, from its route parameters. */
  orderIdOf(ctx: RequestContext): string | undefined {
    const params = ctx.facts.params;
    if (!params) return undefined;
    for (const name of this.orderIdParams) {
      const v = params[name];
      if ((typeof v === 'string' && v !== '') || typeof v === 'number') return String(v);
    }
    return undefined;
  }

  /** The request-scoped child logger: request id, method and route on every entry. */
  childFor(ctx: RequestContext): Logger {
    const orderId = this.orderIdOf(ctx);
    return this.log.child({
      ...(orderId !== undefined ? { orderId } : {}),
      details: { requestId: ctx.requestId, method: ctx.facts.method, route: routeOf(ctx.facts) },
    });
  }

  /**
   * The webhook route configured for this method and path, if any. Matched after percent-decoding
   * and without regard to case or trailing slashes, as Express routes by default (and Fastify with its router options): a
   * request the framework would hand to the webhook route must never slip past the capture and the
   * signature check by spelling the path differently.
   */
  webhookFor(method: string, path: string): WebhookRoute | undefined {
    return this.webhooks.get(webhookKey(method, path));
  }

  /**
   * Verifies (when a verifier is set) and captures a webhook's raw body. Resolves true when the
   * route should run; false after a failed signature (already logged as a security warning).
   */
  async handleWebhook(ctx: RequestContext, route: WebhookRoute, rawBody: Buffer): Promise<boolean> {
    const headers = ctx.facts.headers;
    let event: unknown;
    if (route.verify) {
      try {
        event = await route.verify(rawBody, headers);
      } catch (err) {
        // Never store the body of a forged event as a webhook: its event id would make the real
        // event look like a duplicate. Its size and hash are enough to recognise it later.
        void this.log.security.warn(`${route.provider} webhook signature check failed`, {
          details: {
            provider: route.provider,
            eventId: eventIdOf(parseJson(rawBody)),
            ip: ctx.facts.ip,
            route: routeOf(ctx.facts),
            requestId: ctx.requestId,
            reason: reasonOf(err),
            rawBodyBytes: rawBody.length,
            rawBodySha256: createHash('sha256').update(rawBody).digest('hex'),
          },
        });
        return route.rejectInvalid === false;
      }
    }
    if (event === undefined || event === null || typeof event !== 'object') event = parseJson(rawBody);
    const eventId = eventIdOf(event);
    const orderId = (route.orderId ?? defaultEventOrderId)(event);
    ctx.webhook = { provider: route.provider, eventId, event, rawBody };
    void this.log.webhook({
      provider: route.provider,
      ...(eventId !== undefined ? { eventId } : {}),
      ...(orderId !== undefined && orderId !== null && orderId !== '' ? { orderId } : {}),
      headers,
      rawBody,
    });
    return true;
  }

  /**
   * Ends a request: 5xx replies and thrown errors become `error` entries (never bodies, cookies or
   * authorization), 401/403 are counted per address.
   */
  finish(ctx: RequestContext, status: number): void {
    const facts = ctx.facts;
    if (status >= 500) {
      const orderId = this.orderIdOf(ctx);
      const details = {
        method: facts.method,
        route: routeOf(facts),
        status,
        requestId: ctx.requestId,
        ip: facts.ip,
      };
      const opts = { details, ...(orderId !== undefined ? { orderId } : {}) };
      if (ctx.error !== undefined) void this.log.error(ctx.error, opts);
      else void this.log.error.error(`${facts.method} ${routeOf(facts)} answered ${status}`, opts);
    } else if ((status === 401 || status === 403) && this.bursts && facts.ip) {
      const burst = this.bursts.hit(facts.ip);
      if (burst) {
        void this.log.security.warn(`${burst.count} refused requests (401/403) from ${facts.ip}`, {
          details: {
            ip: facts.ip,
            count: burst.count,
            windowSeconds: burst.windowMs / 1000,
            lastStatus: status,
            lastRoute: routeOf(facts),
            requestId: ctx.requestId,
          },
        });
      }
    }
  }

  /** Writes one admin action with the PCI DSS 10.2 fields: who, what, when, where, outcome. */
  adminAction(
    ctx: RequestContext,
    request: unknown,
    action: string,
    details: AdminActionDetails = {},
  ): Promise<string> {
    const { actor, outcome = 'success', target, orderId, ...rest } = details;
    const who = actor ?? this.actor?.(request) ?? 'unknown';
    const facts = ctx.facts;
    const entry = {
      ...rest,
      actor: who,
      action,
      outcome,
      ...(target !== undefined ? { target } : {}),
      ip: facts.ip,
      method: facts.method,
      route: routeOf(facts),
      requestId: ctx.requestId,
      userAgent: headerText(facts.headers['user-agent']),
    };
    const order = orderId ?? this.orderIdOf(ctx);
    const opts = { details: entry, ...(order !== undefined ? { orderId: order } : {}) };
    const message = `${who}: ${action}${target !== undefined ? ` ${target}` : ''} (${outcome})`;
    return outcome === 'failure' ? this.log.admin.warn(message, opts) : this.log.admin.info(message, opts);
  }
}

function webhookKey(method: string, path: string): string {
  let p = path;
  try {
    p = decodeURIComponent(p); // Fastify routes `/webhooks/%73tripe` to `/webhooks/stripe`
  } catch {
    // not valid percent-encoding: compare as sent
  }
  p = p.toLowerCase();
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return `${method.toUpperCase()} ${p}`;
}

/** The route pattern when the framework knows it, else the path. */
export function routeOf(facts: RequestFacts): string {
  return facts.route ?? facts.path;
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

function eventIdOf(event: unknown): string | undefined {
  if (event && typeof event === 'object' && 'id' in event) {
    const id = (event as { id: unknown }).id;
    if (typeof id === 'string' && id !== '') return id.slice(0, 256);
    if (typeof id === 'number') return String(id);
  }
  return undefined;
}

/** Stripe-style: `data.object.metadata.orderId` (or `order_id`). */
function defaultEventOrderId(event: unknown): string | number | undefined {
  const md = (event as { data?: { object?: { metadata?: Record<string, unknown> } } } | undefined)?.data
    ?.object?.metadata;
  const v = md?.orderId ?? md?.order_id;
  return typeof v === 'string' || typeof v === 'number' ? v : undefined;
}

/**
 * What went wrong, without the verifier's message: Stripe's can name the secret's length and last
 * four characters, and a warning must never carry any part of a secret. The error's class and code
 * say enough ("StripeSignatureVerificationError").
 */
function reasonOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.name} (${code.slice(0, 64)})` : err.name;
  }
  return typeof err;
}

/** Reads a stream into one Buffer, refusing more than `limit` bytes. */
export async function readBody(stream: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > limit) throw new BodyTooLarge(limit);
    parts.push(b);
  }
  return Buffer.concat(parts, size);
}

/** A webhook body over the limit (answered 413). */
export class BodyTooLarge extends Error {
  readonly statusCode = 413;
  constructor(limit: number) {
    super(`webhook body is larger than ${limit} bytes`);
    this.name = 'BodyTooLarge';
  }
}
