/**
 * Parallel logins cannot bypass the throttle (issue 11, finding 6): each attempt is counted
 * before the slow hash, and the hash gate bounds how many hashes one address can queue.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, cookieOf, csrfOf, form, makePanel, type Panel } from './helpers.js';

let panel: Panel | undefined;
afterEach(async () => {
  await panel?.close();
  panel = undefined;
});

async function attempts(p: Panel, list: { password: string; address: string }[]) {
  const page = await p.get('/login');
  return Promise.all(
    list.map(({ password, address }) =>
      p.app.inject({
        method: 'POST',
        url: '/login',
        remoteAddress: address,
        cookies: { sn_login: cookieOf(page, 'sn_login')! },
        ...form({ user: ALICE.user, password, _csrf: csrfOf(page.body) }),
      }),
    ),
  );
}

describe('parallel logins', () => {
  it('24 wrong passwords and the right one sent at once: at most 5 reach the hash, no login', async () => {
    panel = await makePanel();
    const list = Array.from({ length: 24 }, (_, i) => ({
      password: `wrong password ${i}`,
      address: `198.51.100.${i + 1}`, // many addresses: the account threshold must hold alone
    }));
    list.push({ password: ALICE.password, address: '198.51.100.200' });
    const res = await attempts(panel, list);
    const codes = res.map((r) => r.statusCode);
    // Before the fix: 20×401, 4×429 and a login (303).
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(5);
    expect(codes.filter((c) => c === 303)).toEqual([]);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(20);
    // The account is locked afterwards: the success did not reset anything.
    const [later] = await attempts(panel, [{ password: ALICE.password, address: '203.0.113.9' }]);
    expect(later!.statusCode).toBe(429);
  });

  it('one address cannot queue more than two hashes; others still log in', async () => {
    panel = await makePanel({ throttle: { accountThreshold: 1000, addressThreshold: 1000 } });
    const flood = Array.from({ length: 12 }, (_, i) => ({
      password: `wrong password ${i}`,
      address: '203.0.113.66',
    }));
    const [res, ok] = await Promise.all([
      attempts(panel, flood),
      (async () => {
        await new Promise((r) => setTimeout(r, 5));
        return panel!.login(ALICE.user, ALICE.password, '192.0.2.10');
      })(),
    ]);
    const codes = res.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(2);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(10);
    expect(res.find((r) => r.statusCode === 429)!.body).toContain('Too many login attempts at once');
    expect(ok.session).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
