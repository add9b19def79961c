/**
 * The engines story, checked: every package in the lockfile (what `npm install` puts in
 * node_modules) must declare an `engines.node` range that includes the lowest Node we declare
 * (package.json `engines.node`) and the Node running the suite. A new dependency that needs a newer
 * Node fails here, naming it.
 *
 * The one exception is written down with its reason and proved below: cookie@2.0.2 declares
 * `>=22` but is a plain ES module that uses no Node API and no syntax Node 20 lacks; Node ≥ 20.19 loads it
 * both by `import` (@fastify/cookie) and by `require()` (light-my-request, Fastify's inject), as
 * `require(esm)` is on by default from 20.19 — which is why we declare 20.19, not 20.0. An npm
 * `overrides` entry would not help a shop: npm ignores the overrides of a dependency, so every
 * shop installing safetynet gets cookie 2.0.2 from Fastify anyway; the test below runs that version.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const own = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: unknown; optional?: boolean }>;
};

/** Exact versions allowed to declare an engines range without our Node, with the reason (tested below). */
const EXCEPTIONS: Record<string, string> = {
  'cookie@2.0.2':
    'plain ES module with no Node API at all; Node >= 20.19 import()s and require()s it (see the test below)',
};

function declaredNode(pkgPath: string, fromLock: unknown): string | undefined {
  const file = path.join(ROOT, pkgPath, 'package.json');
  const engines = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { engines?: unknown }).engines
    : fromLock;
  if (!engines || typeof engines !== 'object' || Array.isArray(engines)) return undefined;
  const node = (engines as { node?: unknown }).node;
  return typeof node === 'string' ? node : undefined;
}

describe('engines', () => {
  const lowest = semver.minVersion(own.engines.node)!.version;

  it('every installed package declares an engines.node that includes ours', () => {
    const refused: string[] = [];
    const excused = new Set<string>();
    let checked = 0;
    for (const [pkgPath, meta] of Object.entries(lock.packages)) {
      if (pkgPath === '') continue;
      const range = declaredNode(pkgPath, meta.engines);
      if (range === undefined) continue;
      checked++;
      const name = pkgPath.slice(pkgPath.lastIndexOf('node_modules/') + 'node_modules/'.length);
      const id = `${name}@${meta.version}`;
      const ok = semver.satisfies(lowest, range) && semver.satisfies(process.version, range);
      if (ok) continue;
      if (EXCEPTIONS[id]) excused.add(id);
      else refused.push(`${id} declares node "${range}", which excludes ${lowest} or ${process.version}`);
    }
    expect(checked).toBeGreaterThan(50);
    expect(refused).toEqual([]);
    // An exception nobody needs any more is removed, so the list stays true.
    expect([...excused].sort()).toEqual(Object.keys(EXCEPTIONS).sort());
  });

  it('cookie@2.0.2 really runs here: require(esm) and import, through Fastify, @fastify/cookie and inject', async () => {
    expect(semver.satisfies(process.version, own.engines.node)).toBe(true);
    expect((process.features as { require_module?: boolean }).require_module).toBe(true);
    const lmr = createRequire(createRequire(import.meta.url).resolve('fastify'))('light-my-request');
    expect(typeof lmr).toBe('function');
    const required = createRequire(import.meta.url)('cookie') as typeof import('cookie');
    const imported = await import('cookie');
    expect(required.parseCookie).toBe(imported.parseCookie);
    expect(imported.parseCookie('a=1; b=caf%C3%A9')).toEqual({ a: '1', b: 'café' });
    expect(imported.stringifySetCookie({ name: 'sid', value: 'x y', httpOnly: true })).toBe(
      'sid=x%20y; HttpOnly',
    );

    const app = Fastify();
    await app.register(fastifyCookie);
    app.get('/', async (request, reply) => {
      reply.setCookie('seen', String(request.cookies.visit ?? 'none'), { path: '/', httpOnly: true });
      return { visit: request.cookies.visit };
    });
    const r = await app.inject({ url: '/', cookies: { visit: 'a b' } });
    expect(r.json()).toEqual({ visit: 'a b' });
    expect(r.cookies).toEqual([expect.objectContaining({ name: 'seen', value: 'a b', httpOnly: true })]);
    await app.close();
  });
});
