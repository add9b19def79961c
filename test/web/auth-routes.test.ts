import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/web/app.js';
import { ALICE, cookieOf, csrfOf, form, makePanel, type Panel } from './helpers.js';
import { sampleBackupsStatus } from './backups-sample.js';

let panel: Panel | undefined;
afterEach(async () => {
  await panel?.close();
  panel = undefined;
});

/** A concrete URL for a route pattern. */
function concrete(url: string): string {
  return url.replace(/:[A-Za-z]+/g, '1');
}

/** Routes anyone may reach: exactly the login page and static assets. */
const PUBLIC = new Set(['GET /login', 'HEAD /login', 'POST /login', 'GET /favicon.ico', 'HEAD /favicon.ico']);

describe('every route is protected', () => {
  it('every registered route (found by the onRoute hook) except login and static assets needs a session', async () => {
    panel = await makePanel({
      backups: {
        status: async () => sampleBackupsStatus(),
        backupNow: async () => ({ ok: true, message: 'started' }),
        restoreTestNow: async () => ({ ok: true, message: 'started' }),
      },
    });
    const routes = panel.app.adminRoutes;
    // The backups routes are registered too (so they are enumerated here as well).
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining([
        'GET /logs',
        'GET /logs/export',
        'GET /logs/entry/:id',
        'POST /logout',
        'GET /backups',
        'POST /backups/backup-now',
      ]),
    );
    expect(routes.length).toBeGreaterThan(15);
    for (const r of routes) {
      const key = `${r.method} ${r.url}`;
      const isStatic = r.url.startsWith('/static/');
      expect(r.public, key).toBe(PUBLIC.has(key) || isStatic);
      if (r.public) continue;
      const res = await panel.app.inject({ method: r.method as 'GET', url: concrete(r.url) });
      if (r.method === 'GET' || r.method === 'HEAD') {
        expect(res.statusCode, key).toBe(302);
        expect(res.headers.location, key).toBe(`/login?next=${encodeURIComponent(concrete(r.url))}`);
      } else {
        expect(res.statusCode, key).toBe(401);
      }
      // A forged or stale cookie is no better than none.
      const forged = await panel.app.inject({
        method: r.method as 'GET',
        url: concrete(r.url),
        cookies: { sn_session: 'x'.repeat(43) },
      });
      expect([302, 401], key).toContain(forged.statusCode);
    }
  });

  it('a route added later is protected without opting in', async () => {
    panel = await makePanel();
    // Routes are added before ready(); buildApp's hooks apply to anything registered on the app.
    const app = await buildApp({
      config: panel.config,
      logStore: panel.logger.store,
      logger: panel.logger,
      users: panel.users,
      clock: panel.clock,
    });
    app.get('/new-thing', async () => 'secret');
    const res = await app.inject({ method: 'GET', url: '/new-thing' });
    expect(res.statusCode).toBe(302);
    expect(res.body).not.toContain('secret');
    expect(app.adminRoutes.find((r) => r.url === '/new-thing')?.public).toBe(false);
    await app.close();
  });

  it('static assets are public, cached and served with the strict CSP', async () => {
    panel = await makePanel();
    const css = await panel.get('/static/app.css');
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    const again = await panel.app.inject({
      method: 'GET',
      url: '/static/app.css',
      headers: { 'if-none-match': String(css.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect(css.headers['content-security-policy']).toContain("script-src 'self'");
  });
});

describe('login', () => {
  it('logs in with the form, sets a strict HttpOnly cookie, and audits it', async () => {
    panel = await makePanel();
    const page = await panel.get('/login?next=/logs%3Fcategory%3Dadmin');
    expect(page.statusCode).toBe(200);
    const loginCookie = page.cookies.find((c) => c.name === 'sn_login')!;
    expect(loginCookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/login' });
    const res = await panel.app.inject({
      method: 'POST',
      url: '/login',
      cookies: { sn_login: loginCookie.value },
      ...form({
        user: ALICE.user,
        password: ALICE.password,
        _csrf: csrfOf(page.body),
        next: '/logs?category=admin',
      }),
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/logs?category=admin');
    const cookie = res.cookies.find((c) => c.name === 'sn_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie.secure).toBeFalsy(); // plain HTTP here; Secure is set when the request is HTTPS
    expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const logs = await panel.get('/logs', cookie.value);
    expect(logs.statusCode).toBe(200);
    expect(logs.body).toContain('Signed in as <strong>alice</strong>');
    const admin = await panel.entries('admin');
    const login = admin.find((e) => e.details.action === 'login')!;
    expect(login).toMatchObject({ level: 'info', message: 'admin "alice" logged in' });
    expect(login.details).toMatchObject({ actor: 'alice', outcome: 'success', origin: '127.0.0.1' });
  });

  it('behind a trusted TLS proxy the cookie is Secure and the audit shows the forwarded address; untrusted headers are ignored', async () => {
    for (const trustProxy of [true, false]) {
      panel = await makePanel({ trustProxy });
      const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.77' };
      const page = await panel.app.inject({ method: 'GET', url: '/login', headers });
      const res = await panel.app.inject({
        method: 'POST',
        url: '/login',
        cookies: { sn_login: cookieOf(page, 'sn_login')! },
        payload: new URLSearchParams({
          user: ALICE.user,
          password: ALICE.password,
          _csrf: csrfOf(page.body),
        }).toString(),
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.statusCode).toBe(303);
      expect(res.cookies.find((c) => c.name === 'sn_session')!.secure ?? false).toBe(trustProxy);
      const [login] = await panel.entries('admin');
      expect(login!.details.origin).toBe(trustProxy ? '198.51.100.77' : '127.0.0.1');
      await panel.close();
      panel = undefined;
    }
  });

  it('a failed login is a security entry with the name tried and the address, never the password', async () => {
    panel = await makePanel();
    const page = await panel.get('/login');
    const res = await panel.app.inject({
      method: 'POST',
      url: '/login',
      remoteAddress: '198.51.100.4',
      cookies: { sn_login: cookieOf(page, 'sn_login')! },
      ...form({ user: 'alice', password: 'Sup3rSecretGuess!', _csrf: csrfOf(page.body) }),
    });
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('Wrong user name or password.');
    expect(cookieOf(res, 'sn_session')).toBeUndefined();
    const unknown = await panel.app.inject({
      method: 'POST',
      url: '/login',
      remoteAddress: '198.51.100.4',
      cookies: { sn_login: cookieOf(page, 'sn_login')! },
      ...form({ user: 'mallory', password: 'Sup3rSecretGuess!', _csrf: csrfOf(page.body) }),
    });
    // Same answer for an unknown user: nothing to learn about which names exist.
    expect(unknown.statusCode).toBe(401);
    expect(unknown.body).toContain('Wrong user name or password.');

    const sec = await panel.entries('security');
    expect(sec.map((e) => e.details)).toEqual([
      expect.objectContaining({
        actor: 'mallory',
        action: 'login',
        outcome: 'failure',
        origin: '198.51.100.4',
        reason: 'unknown user',
      }),
      expect.objectContaining({
        actor: 'alice',
        action: 'login',
        outcome: 'failure',
        origin: '198.51.100.4',
        reason: 'wrong password',
      }),
    ]);
    const everything = JSON.stringify(await panel.logger.store.search({}, { limit: 1000 }));
    expect(everything).not.toContain('Sup3rSecretGuess');
  });

  it('locks the account after 5 failures for 15 minutes (ManualClock), with security warnings', async () => {
    panel = await makePanel();
    const page = await panel.get('/login');
    const attempt = (password: string, address = '192.0.2.1') =>
      panel!.app.inject({
        method: 'POST',
        url: '/login',
        remoteAddress: address,
        cookies: { sn_login: cookieOf(page, 'sn_login')! },
        ...form({ user: 'alice', password, _csrf: csrfOf(page.body) }),
      });
    for (let i = 0; i < 4; i++) expect((await attempt('wrong password ' + i)).statusCode).toBe(401);
    const fifth = await attempt('wrong password 5');
    expect(fifth.statusCode).toBe(429);
    expect(fifth.body).toContain('Too many failed logins. Try again after 2026-11-26 12:15 UTC.');
    // Locked: even the right password (from another address) is refused without being checked.
    const right = await attempt(ALICE.password, '192.0.2.99');
    expect(right.statusCode).toBe(429);
    expect(Number(right.headers['retry-after'])).toBe(900);

    const warns = (await panel.entries('security')).filter((e) => e.level === 'warn');
    expect(warns.map((e) => e.details.action)).toEqual(['login', 'login.lockout']);
    expect(warns[1]!.message).toBe('account "alice" locked after repeated failed logins');
    expect(warns[1]!.details).toMatchObject({ lockedUntil: '2026-11-26T12:15:00.000Z', lockNumber: 1 });

    panel.clock.advance(15 * 60_000);
    expect((await attempt(ALICE.password, '192.0.2.99')).statusCode).toBe(303);
  });

  it('many failures from one address lock the address and say so', async () => {
    panel = await makePanel({ throttle: { addressThreshold: 6, accountThreshold: 5 } });
    const page = await panel.get('/login');
    let last;
    for (let i = 0; i < 6; i++) {
      last = await panel.app.inject({
        method: 'POST',
        url: '/login',
        remoteAddress: '203.0.113.9',
        cookies: { sn_login: cookieOf(page, 'sn_login')! },
        ...form({ user: `guess${i}`, password: 'wrong password here', _csrf: csrfOf(page.body) }),
      });
    }
    expect(last!.statusCode).toBe(429);
    const warn = (await panel.entries('security')).find((e) =>
      e.message.startsWith('many failed logins from'),
    );
    expect(warn).toMatchObject({
      level: 'warn',
      message: 'many failed logins from 203.0.113.9: address locked',
    });
    // Alice from elsewhere is not affected.
    await expect(panel.login(ALICE.user, ALICE.password, '192.0.2.50')).resolves.toBeTruthy();
  });

  it('the login form needs its CSRF token', async () => {
    panel = await makePanel();
    const page = await panel.get('/login');
    const noCookie = await panel.app.inject({
      method: 'POST',
      url: '/login',
      ...form({ user: 'alice', password: ALICE.password, _csrf: csrfOf(page.body) }),
    });
    expect(noCookie.statusCode).toBe(403);
    const wrong = await panel.app.inject({
      method: 'POST',
      url: '/login',
      cookies: { sn_login: cookieOf(page, 'sn_login')! },
      ...form({ user: 'alice', password: ALICE.password, _csrf: 'A'.repeat(43) }),
    });
    expect(wrong.statusCode).toBe(403);
    expect(cookieOf(wrong, 'sn_session')).toBeUndefined();
    const sec = await panel.entries('security');
    expect(sec).toHaveLength(2);
    expect(sec.every((e) => e.level === 'warn' && e.details.outcome === 'denied')).toBe(true);
  });

  it('never redirects off-site after login', async () => {
    panel = await makePanel();
    for (const next of [
      '//evil.example/x',
      'https://evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/login',
    ]) {
      const page = await panel.get(`/login?next=${encodeURIComponent(next)}`);
      expect(page.body).toContain('name="next" value="/logs"');
      const res = await panel.app.inject({
        method: 'POST',
        url: '/login',
        cookies: { sn_login: cookieOf(page, 'sn_login')! },
        ...form({ user: ALICE.user, password: ALICE.password, _csrf: csrfOf(page.body), next }),
      });
      expect(res.headers.location).toBe('/logs');
    }
  });
});

describe('sessions', () => {
  it('POST without the CSRF token is refused with 403 and a security warning; with it, logout works', async () => {
    panel = await makePanel();
    const { session, csrf } = await panel.login();
    const missing = await panel.app.inject({
      method: 'POST',
      url: '/logout',
      cookies: { sn_session: session },
      ...form({}),
    });
    expect(missing.statusCode).toBe(403);
    const wrong = await panel.app.inject({
      method: 'POST',
      url: '/logout',
      cookies: { sn_session: session },
      ...form({ _csrf: csrf.slice(1) + 'x' }),
    });
    expect(wrong.statusCode).toBe(403);
    expect((await panel.get('/logs', session)).statusCode).toBe(200); // still logged in
    const warns = (await panel.entries('security')).filter((e) => e.details.action === 'csrf.check');
    expect(warns.map((e) => [e.level, e.details.reason, e.details.actor])).toEqual([
      ['warn', 'token mismatch', 'alice'],
      ['warn', 'token missing', 'alice'],
    ]);

    const out = await panel.app.inject({
      method: 'POST',
      url: '/logout',
      cookies: { sn_session: session },
      ...form({ _csrf: csrf }),
    });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login?bye=1');
    const after = await panel.get('/logs', session);
    expect(after.statusCode).toBe(302);
    expect(after.headers.location).toMatch(/^\/login\?next=%2Flogs/);
    expect(
      (await panel.entries('admin')).some(
        (e) => e.details.action === 'logout' && e.details.actor === 'alice',
      ),
    ).toBe(true);
  });

  it('ends after the idle time and after the absolute maximum (ManualClock)', async () => {
    panel = await makePanel();
    const idle = panel.config.admin.sessionIdleMinutes * 60_000;
    const { session } = await panel.login();
    panel.clock.advance(idle - 1000);
    expect((await panel.get('/logs', session)).statusCode).toBe(200);
    panel.clock.advance(idle - 1000); // active: the idle clock restarted at the last request
    expect((await panel.get('/logs', session)).statusCode).toBe(200);
    panel.clock.advance(idle);
    const expired = await panel.get('/logs', session);
    expect(expired.statusCode).toBe(302);
    expect(expired.headers.location).toContain('expired=1');

    const second = await panel.login();
    const max = panel.config.admin.sessionMaxHours * 3_600_000;
    for (let t = 0; t < max; t += idle / 2) {
      panel.clock.advance(idle / 2);
      if (t + idle / 2 < max) expect((await panel.get('/logs', second.session)).statusCode).toBe(200);
    }
    expect((await panel.get('/logs', second.session)).statusCode).toBe(302);
  });

  it("changing a user's password or removing the user ends their sessions", async () => {
    panel = await makePanel();
    const { session } = await panel.login();
    await panel.users.setPassword('alice', 'a brand new passphrase');
    expect((await panel.get('/logs', session)).statusCode).toBe(302);
    const again = await panel.login('alice', 'a brand new passphrase');
    await panel.users.remove('alice');
    expect((await panel.get('/logs', again.session)).statusCode).toBe(302);
  });

  it('the default SQLite session store keeps logins across a restart and stores only hashes', async () => {
    panel = await makePanel({ sqliteSessions: true });
    const { session } = await panel.login();
    await panel.app.close();
    const app2 = await buildApp({
      config: panel.config,
      logStore: panel.logger.store,
      logger: panel.logger,
      users: panel.users,
      clock: panel.clock,
    });
    const res = await app2.inject({ method: 'GET', url: '/logs', cookies: { sn_session: session } });
    expect(res.statusCode).toBe(200);
    await app2.close();
    const { readFileSync } = await import('node:fs');
    const { defaultSessionFile } = await import('../../src/web/auth/sessions.js');
    const raw = readFileSync(defaultSessionFile(panel.config.admin.users)).toString('latin1');
    expect(raw).not.toContain(session);
    panel.app = app2; // already closed; close() tolerates it
  });

  it('sets the security headers on every page', async () => {
    panel = await makePanel();
    const res = await panel.get('/login');
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    expect(String(res.headers['content-security-policy'])).toMatch(
      /default-src 'none'.*frame-ancestors 'none'/,
    );
  });

  it('a logged-in user visiting /login goes straight on; unknown pages are 404 without leaking', async () => {
    panel = await makePanel();
    const { session } = await panel.login();
    const res = await panel.get('/login?next=/logs%3Fq%3Dx', session);
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/logs?q=x');
    const nf = await panel.get('/nope', session);
    expect(nf.statusCode).toBe(404);
  });

  it('an unexpected error is a generic 500 page; the details go to the error log only', async () => {
    panel = await makePanel();
    const store = panel.logger.store;
    const broken = Object.create(store) as typeof store;
    broken.search = async () => {
      throw new TypeError('internal detail /secret/path');
    };
    const app = await buildApp({
      config: panel.config,
      logStore: broken,
      logger: panel.logger,
      users: panel.users,
      clock: panel.clock,
    });
    // The session store is per app: log in on this one.
    const page = await app.inject({ method: 'GET', url: '/login' });
    const res = await app.inject({
      method: 'POST',
      url: '/login',
      cookies: { sn_login: cookieOf(page, 'sn_login')! },
      ...form({ user: ALICE.user, password: ALICE.password, _csrf: csrfOf(page.body) }),
    });
    const sid = cookieOf(res, 'sn_session')!;
    const logs = await app.inject({ method: 'GET', url: '/logs', cookies: { sn_session: sid } });
    expect(logs.statusCode).toBe(500);
    expect(logs.body).toContain('Something went wrong');
    expect(logs.body).not.toContain('secret');
    const [err] = await panel.entries('error');
    expect(err!.message).toBe('internal detail /secret/path');
    expect(err!.details).toMatchObject({ route: 'GET /logs' });
    await app.close();
  });

  it('a malformed form body is a 400 page, not a 500', async () => {
    panel = await makePanel();
    const { session } = await panel.login();
    const res = await panel.app.inject({
      method: 'POST',
      url: '/logout',
      cookies: { sn_session: session },
      payload: 'x'.repeat(70 * 1024),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode).toBe(413);
    const json = await panel.app.inject({
      method: 'POST',
      url: '/logout',
      cookies: { sn_session: session },
      payload: '{bad',
      headers: { 'content-type': 'application/json' },
    });
    expect(json.statusCode).toBe(400);
    expect(json.headers['content-type']).toContain('text/html');
  });
});
