/**
 * Login and logout.
 *
 * The login form has its own CSRF token (a random value in a SameSite=Strict cookie scoped to
 * /login, repeated in a hidden field) since there is no session yet; it stops another site from
 * logging a browser into an account of the attacker's choosing. Each login creates a fresh session
 * id (no fixation), failed logins are throttled and audited, and the same message is shown for an
 * unknown user and a wrong password.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditAdmin, auditSecurity, clientText } from '../audit.js';
import { hashSessionId, newCsrfToken, newSessionId, tokensEqual } from '../auth/sessions.js';
import type { WebContext } from '../context.js';
import { href } from '../html.js';
import { loginPage } from '../views/login.js';

export const SESSION_COOKIE = 'sn_session';
const LOGIN_COOKIE = 'sn_login';
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** `next` after login: a local path only (no scheme, no `//host`, no backslash tricks). */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return '/logs';
  if (!/^\/(?![/\\])[^\s\\]*$/.test(next) || next.startsWith('/login')) return '/logs';
  // A Location header holds ASCII only: percent-encode the rest (a lone surrogate cannot be).
  try {
    return next.replace(/[^\x21-\x7e]+/g, (c) => encodeURIComponent(c));
  } catch {
    return '/logs';
  }
}

function isHttps(req: FastifyRequest): boolean {
  return req.protocol === 'https';
}

function loginToken(req: FastifyRequest, reply: FastifyReply): string {
  const existing = req.cookies[LOGIN_COOKIE];
  if (existing && TOKEN_RE.test(existing)) return existing;
  const token = newCsrfToken();
  reply.setCookie(LOGIN_COOKIE, token, {
    path: '/login',
    httpOnly: true,
    sameSite: 'strict',
    secure: isHttps(req),
  });
  return token;
}

function field(body: unknown, name: string): string | undefined {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}

function untilText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

export function registerAuthRoutes(
  app: FastifyInstance,
  ctx: WebContext,
  limits: { idleMs: number; maxMs: number },
): void {
  const { deps, sessions, throttle } = ctx;

  app.get('/login', { config: { public: true } }, async (req, reply) => {
    const query = req.query as Record<string, unknown>;
    const next = safeNext(query.next);
    if (req.admin) return reply.redirect(next, 302);
    const notice =
      query.bye !== undefined
        ? 'You are logged out.'
        : query.expired !== undefined
          ? 'Your session ended (idle too long, too old, or the account changed). Log in again.'
          : undefined;
    return ctx.page(
      reply,
      200,
      loginPage({ csrfToken: loginToken(req, reply), next, ...(notice ? { notice } : {}) }),
    );
  });

  app.post('/login', { config: { public: true } }, async (req, reply) => {
    const origin = ctx.origin(req);
    const user = field(req.body, 'user')?.trim() ?? '';
    const password = field(req.body, 'password') ?? '';
    const next = safeNext(field(req.body, 'next'));
    const shownUser = clientText(user, 64);

    const cookieToken = req.cookies[LOGIN_COOKIE];
    const formToken = field(req.body, '_csrf');
    if (!cookieToken || !formToken || !tokensEqual(cookieToken, formToken)) {
      await auditSecurity(
        deps.logger,
        'warn',
        `login form refused: CSRF check failed (user "${shownUser}")`,
        {
          actor: shownUser || null,
          action: 'login',
          outcome: 'denied',
          origin,
          reason: cookieToken ? 'login token mismatch' : 'login cookie missing',
        },
      );
      const fresh = newCsrfToken();
      reply.setCookie(LOGIN_COOKIE, fresh, {
        path: '/login',
        httpOnly: true,
        sameSite: 'strict',
        secure: isHttps(req),
      });
      return ctx.page(
        reply,
        403,
        loginPage({
          csrfToken: fresh,
          next,
          user,
          error:
            'The login form expired or did not come from this site. Please try again (cookies must be enabled).',
        }),
      );
    }

    const fail = (status: number, error: string): FastifyReply =>
      ctx.page(reply, status, loginPage({ csrfToken: cookieToken, next, user, error }));

    if (!user || !password) return fail(400, 'Enter a user name and a password.');

    // One atomic step: refused when locked, else counted as a failure BEFORE the slow hash, so
    // parallel attempts (from any number of panel instances sharing the store) cannot pass the
    // threshold. A success clears the counters afterwards.
    const attempt = await throttle.attempt(user, origin);
    const lock = attempt.lock;
    if (lock) {
      await auditSecurity(deps.logger, 'warn', `login refused for "${shownUser}": ${lock.scope} locked`, {
        actor: shownUser,
        action: 'login',
        outcome: 'denied',
        origin,
        reason: `${lock.scope} locked until ${new Date(lock.until).toISOString()}`,
      });
      reply.header('retry-after', String(Math.max(1, Math.ceil((lock.until - deps.clock.now()) / 1000))));
      return fail(429, `Too many failed logins. Try again after ${untilText(lock.until)}.`);
    }

    const outcome = attempt.outcome!;
    const gated = await ctx.hashGate.run(origin, () => deps.users.verify(user, password));
    if (gated.refused) {
      await auditSecurity(deps.logger, 'warn', `login refused for "${shownUser}": too many at once`, {
        actor: shownUser,
        action: 'login',
        outcome: 'denied',
        origin,
        reason: 'too many login attempts in progress',
      });
      reply.header('retry-after', '2');
      return fail(429, 'Too many login attempts at once. Wait a moment and try again.');
    }
    const result = gated.value;
    if (!result.ok) {
      await auditSecurity(deps.logger, 'info', `login failed for "${shownUser}"`, {
        actor: shownUser,
        action: 'login',
        outcome: 'failure',
        origin,
        reason: result.reason === 'unknown-user' ? 'unknown user' : 'wrong password',
        failures: outcome.accountFailures,
      });
      if (outcome.accountLocked) {
        await auditSecurity(
          deps.logger,
          'warn',
          `account "${shownUser}" locked after repeated failed logins`,
          {
            actor: shownUser,
            action: 'login.lockout',
            outcome: 'denied',
            origin,
            reason: `${throttle.options.accountThreshold} failed logins`,
            lockedUntil: new Date(outcome.accountLocked.until).toISOString(),
            lockNumber: outcome.accountLocked.lockNumber,
          },
        );
      }
      if (outcome.addressLocked) {
        await auditSecurity(deps.logger, 'warn', `many failed logins from ${origin}: address locked`, {
          actor: shownUser,
          action: 'login.lockout',
          outcome: 'denied',
          origin,
          reason: `${outcome.addressLocked.failures} failed logins from one address`,
          lockedUntil: new Date(outcome.addressLocked.until).toISOString(),
          lockNumber: outcome.addressLocked.lockNumber,
        });
      }
      const locked = outcome.accountLocked ?? outcome.addressLocked;
      if (locked) return fail(429, `Too many failed logins. Try again after ${untilText(locked.until)}.`);
      return fail(401, 'Wrong user name or password.');
    }

    await throttle.recordSuccess(user, origin);
    const now = deps.clock.now();
    await sessions.purge(now - limits.idleMs, now - limits.maxMs);
    const id = newSessionId();
    await sessions.insert({
      idHash: hashSessionId(id),
      user: result.name,
      stamp: result.stamp,
      csrfToken: newCsrfToken(),
      createdAt: now,
      lastSeenAt: now,
      flash: null,
    });
    reply.setCookie(SESSION_COOKIE, id, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: isHttps(req),
    });
    reply.clearCookie(LOGIN_COOKIE, { path: '/login' });
    await auditAdmin(deps.logger, `admin "${result.name}" logged in`, {
      actor: result.name,
      action: 'login',
      outcome: 'success',
      origin,
    });
    return reply.redirect(next, 303);
  });

  app.post('/logout', async (req, reply) => {
    const admin = req.admin!;
    await sessions.delete(admin.idHash);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    await auditAdmin(deps.logger, `admin "${admin.user}" logged out`, {
      actor: admin.user,
      action: 'logout',
      outcome: 'success',
      origin: ctx.origin(req),
    });
    return reply.redirect(href('/login', { bye: '1' }), 303);
  });
}
