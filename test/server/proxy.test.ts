/**
 * Behind a reverse proxy (issue 11, finding 7): `admin.trustProxy` reaches the panel `serve`
 * starts, so the session cookie is Secure over HTTPS, HSTS is sent, and the audit shows the
 * client's address, not the proxy's. Also: a `next` with non-Latin-1 characters redirects.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { resolveConfig } from '../../src/config/index.js';
import { startServe, type RunningServe } from '../../src/server/serve.js';
import { FileAdminUserStore } from '../../src/web/auth/users.js';
import { ALICE, TEST_SCRYPT } from '../web/helpers.js';
import { useTestEnvs } from '../backup/env.js';

const newEnv = useTestEnvs();
let serve: RunningServe | undefined;
afterEach(async () => {
  await serve?.stop();
  serve = undefined;
});

async function loginThrough(url: string, headers: Record<string, string>, next = '/logs') {
  const page = await fetch(`${url}/login`, { headers });
  const cookie = page.headers.getSetCookie().find((c) => c.startsWith('sn_login='))!;
  const body = await page.text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
  const res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...headers,
      cookie: cookie.split(';')[0]!,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ user: ALICE.user, password: ALICE.password, _csrf: csrf, next }).toString(),
  });
  return { page, res };
}

describe('serve behind a proxy', () => {
  it('with admin.trustProxy the cookie is Secure, HSTS is sent and the audit shows the client address', async () => {
    const env = await newEnv({ rows: 0 });
    const raw = JSON.parse(readFileSync(env.configFile, 'utf8'));
    raw.admin = { trustProxy: ['127.0.0.1'] };
    writeFileSync(env.configFile, JSON.stringify(raw));
    const config = resolveConfig(raw, { file: env.configFile, baseDir: env.dir, env: {} });
    await new FileAdminUserStore(config.admin.users, { scrypt: TEST_SCRYPT }).add(ALICE.user, ALICE.password);
    serve = await startServe(config, { host: '127.0.0.1', port: 0, catchUpDelayMs: 3_600_000 });
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.77' };
    const { page, res } = await loginThrough(serve.url!, headers, '/logs?q=Müller€');
    expect(page.headers.get('strict-transport-security')).toBe('max-age=31536000');
    expect(res.status).toBe(303);
    // Before the fix: a raw JSON 500 (a Location header cannot hold "ü" or "€").
    expect(res.headers.get('location')).toBe('/logs?q=M%C3%BCller%E2%82%AC');
    const session = res.headers.getSetCookie().find((c) => c.startsWith('sn_session='))!;
    expect(session).toMatch(/; Secure/); // before the fix: never Secure, serve passed no trustProxy
    await serve.logger.flush();
    const admin = await serve.logger.store.search({ categories: ['admin'] }, { limit: 10 });
    expect(admin.entries.find((e) => e.details.action === 'login')?.details.origin).toBe('198.51.100.77');
  });

  it('without it the forwarded headers are ignored and no HSTS is sent over plain HTTP', async () => {
    const env = await newEnv({ rows: 0 });
    await new FileAdminUserStore(env.config.admin.users, { scrypt: TEST_SCRYPT }).add(
      ALICE.user,
      ALICE.password,
    );
    serve = await startServe(env.config, { host: '127.0.0.1', port: 0, catchUpDelayMs: 3_600_000 });
    const { page, res } = await loginThrough(serve.url!, { 'x-forwarded-proto': 'https' });
    expect(page.headers.get('strict-transport-security')).toBeNull();
    expect(res.headers.getSetCookie().find((c) => c.startsWith('sn_session='))).not.toMatch(/Secure/);
  });

  it('admin.trustProxy is checked when the config is read', () => {
    const base = { file: null, baseDir: '/tmp', env: {} };
    expect(resolveConfig({ admin: { trustProxy: true } }, base).admin.trustProxy).toBe(true);
    expect(resolveConfig({}, base).admin.trustProxy).toBe(false);
    expect(
      resolveConfig({ admin: { trustProxy: ['10.0.0.0/8', '::1', 'loopback'] } }, base).admin.trustProxy,
    ).toEqual(['10.0.0.0/8', '::1', 'loopback']);
    for (const bad of [['proxy.example'], ['10.0.0.0/33'], ['1.2.3.4/8/9']])
      expect(() => resolveConfig({ admin: { trustProxy: bad } }, base)).toThrow(/admin\.trustProxy\[0\]/);
    expect(() => resolveConfig({ admin: { trustProxy: 'yes' } }, base)).toThrow(/trustProxy/);
  });
});
