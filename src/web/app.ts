/**
 * The admin panel as a Fastify app. `buildApp` wires everything and never listens (tests use
 * `app.inject()`; server.ts listens).
 *
 * Protection is on by default: a global hook requires a valid session for every route unless the
 * route says `config: { public: true }` (only the login page, its POST, and static assets do), and
 * a second hook requires the session's CSRF token on every state-changing request. So a route
 * added later is protected without anyone remembering to protect it; `app.adminRoutes` lists what
 * was registered, and a test checks each one.
 */
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { auditSecurity, clientText } from './audit.js';
import { LoginThrottle } from './auth/throttle.js';
import { HashGate } from './auth/hash-gate.js';
import { hashSessionId, tokensEqual } from './auth/sessions.js';
import { openAdminState } from './auth/state.js';
import type { AdminSession, WebContext, WebDeps } from './context.js';
import { registerAuthRoutes, SESSION_COOKIE } from './routes/auth.js';
import { registerBackupRoutes } from './routes/backups.js';
import { registerLogRoutes } from './routes/logs.js';
import { STATIC_ASSETS } from './static.js';
import { messagePage } from './views/message.js';
import { href } from './html.js';

export type { WebDeps } from './context.js';

/** One registered route, as recorded by the onRoute hook. */
export interface RegisteredRoute {
  method: string;
  url: string;
  public: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered on the panel (for the route-protection test and docs). */
    adminRoutes: RegisteredRoute[];
  }
}

const SECURITY_HEADERS: Record<string, string> = {
  // No inline script or style anywhere: even markup that slipped past escaping could not run.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Builds the panel (not listening). Close it with `app.close()`, which also closes the session store it opened. */
export async function buildApp(deps: WebDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // Addresses in audit entries come from the socket; X-Forwarded-For is not trusted by default.
    trustProxy: deps.trustProxy ?? false,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
  });

  const routes: RegisteredRoute[] = [];
  app.decorate('adminRoutes', routes);
  app.addHook('onRoute', (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) {
      routes.push({ method, url: r.url, public: r.config?.public === true });
    }
  });

  // Sessions and throttle counters: injected (tests: memory), or the configured store pair
  // (PostgreSQL with a PostgreSQL log store, else SQLite), which survives restarts.
  const own =
    deps.sessions === undefined ? openAdminState(deps.config, deps.clock, deps.throttle) : undefined;
  const sessions = deps.sessions ?? own!.sessions;
  app.addHook('onClose', async () => {
    await own?.close();
  });
  const idleMs = deps.config.admin.sessionIdleMinutes * 60_000;
  const maxMs = deps.config.admin.sessionMaxHours * 3_600_000;

  const ctx: WebContext = {
    deps,
    sessions,
    throttle: own?.throttle ?? new LoginThrottle(deps.clock, deps.throttle),
    hashGate: new HashGate(),
    viewer: (req) => (req.admin ? { user: req.admin.user, csrfToken: req.admin.csrfToken } : undefined),
    origin: (req) => req.ip,
    page: (reply, status, body) => reply.code(status).type('text/html; charset=utf-8').send(body.value),
    takeFlash: (req) => {
      const flash = req.admin?.flash ?? null;
      if (flash !== null && req.admin) {
        // The flash was read with the session; clearing it need not hold up the page.
        void Promise.resolve(sessions.setFlash(req.admin.idHash, null)).catch(() => undefined);
        req.admin.flash = null;
      }
      return flash;
    },
    setFlash: async (req, message) => {
      if (req.admin) await sessions.setFlash(req.admin.idHash, message);
    },
  };

  await app.register(cookie);
  await app.register(formbody);
  app.decorateRequest('admin', null);

  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    // Served over HTTPS (directly, or through a trusted proxy): browsers must never fall back to HTTP.
    if (req.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000');
    reply.header(
      'cache-control',
      req.routeOptions.config?.public && req.url.startsWith('/static/') ? 'public, max-age=3600' : 'no-store',
    );
    const { session, ended } = await currentSession(req, reply);
    req.admin = session;
    if (req.routeOptions.config?.public) return;
    if (req.admin) return;
    if (req.method === 'GET' || req.method === 'HEAD') {
      return reply.redirect(href('/login', { next: req.url, expired: ended ? '1' : undefined }), 302);
    }
    return ctx.page(
      reply,
      401,
      messagePage({
        title: 'Log in first',
        message: 'This action needs a signed-in admin. Log in and try again.',
        link: { href: '/login', text: 'Log in' },
      }),
    );
  });

  // The synchronizer token: every state-changing request of a session carries the session's
  // token in the form (or an X-CSRF-Token header); a page of another site cannot know it.
  app.addHook('preHandler', async (req, reply) => {
    if (!STATE_CHANGING.has(req.method) || req.routeOptions.config?.public || !req.admin) return;
    const body = req.body as Record<string, unknown> | undefined;
    const sent = (typeof body?._csrf === 'string' ? body._csrf : undefined) ?? req.headers['x-csrf-token'];
    if (typeof sent === 'string' && tokensEqual(sent, req.admin.csrfToken)) return;
    await auditSecurity(
      deps.logger,
      'warn',
      `CSRF check failed for ${req.method} ${clientText(req.url, 200)}`,
      {
        actor: req.admin.user,
        action: 'csrf.check',
        outcome: 'denied',
        origin: ctx.origin(req),
        target: `${req.method} ${clientText(req.url, 200)}`,
        reason: typeof sent === 'string' ? 'token mismatch' : 'token missing',
      },
    );
    return ctx.page(
      reply,
      403,
      messagePage({
        title: 'Request refused',
        message:
          'The form was stale or did not come from this site (CSRF check failed). Reload the page and try again.',
        viewer: ctx.viewer(req)!,
        backups: Boolean(deps.backups),
        link: { href: '/logs', text: 'Back to the logs' },
      }),
    );
  });

  /** Looks up, checks and refreshes the request's session; ends it when expired or stale. */
  async function currentSession(
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<{ session: AdminSession | null; ended: boolean }> {
    const id = req.cookies[SESSION_COOKIE];
    if (!id) return { session: null, ended: false };
    const idHash = hashSessionId(id);
    const s = await sessions.get(idHash);
    const now = deps.clock.now();
    let valid = s !== undefined && now - s.lastSeenAt < idleMs && now - s.createdAt < maxMs;
    // A removed user, or a changed password (CLI, other process), ends the session.
    if (valid && s && (await deps.users.stamp(s.user)) !== s.stamp) valid = false;
    if (!valid || !s) {
      if (s) await sessions.delete(idHash);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { session: null, ended: true };
    }
    await sessions.touch(idHash, now);
    return { session: { user: s.user, idHash, csrfToken: s.csrfToken, flash: s.flash }, ended: false };
  }

  for (const [url, asset] of Object.entries(STATIC_ASSETS)) {
    app.get(url, { config: { public: true } }, async (req, reply) => {
      reply.header('etag', asset.etag);
      if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.type(asset.type).send(asset.body);
    });
  }
  // Browsers ask for it on their own; an empty answer keeps that out of the login redirects.
  app.get('/favicon.ico', { config: { public: true } }, async (_req, reply) => reply.code(204).send());

  app.get('/', async (_req, reply) => reply.redirect('/logs', 302));
  registerAuthRoutes(app, ctx, { idleMs, maxMs });
  registerLogRoutes(app, ctx);
  if (deps.backups) registerBackupRoutes(app, ctx, deps.backups);

  app.setNotFoundHandler(async (req, reply) =>
    ctx.page(
      reply,
      404,
      messagePage({
        title: 'Not found',
        message: 'There is no page at this address.',
        ...(ctx.viewer(req) ? { viewer: ctx.viewer(req)! } : {}),
        backups: Boolean(deps.backups),
        link: { href: '/logs', text: 'Go to the logs' },
      }),
    ),
  );

  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      // The details go to the log, never to the page.
      try {
        await deps.logger.error?.(err, { details: { route: `${req.method} ${clientText(req.url, 200)}` } });
      } catch {
        // nothing more to do
      }
    }
    return ctx.page(
      reply,
      status,
      messagePage({
        title: status === 500 ? 'Something went wrong' : 'Bad request',
        message:
          status === 500
            ? 'The server could not complete this request. The error was logged; try again, or check the error log.'
            : 'The request could not be read (malformed or too large).',
        ...(ctx.viewer(req) ? { viewer: ctx.viewer(req)! } : {}),
        backups: Boolean(deps.backups),
        link: { href: '/logs', text: 'Go to the logs' },
      }),
    );
  });

  return app;
}
