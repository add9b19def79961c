/**
 * A real admin panel for tests: real config (embedded defaults in a temp folder), the real logger
 * writing to a real SQLite log store, a real users file, and a ManualClock shared by the logger and
 * the panel so expiry and lockouts are driven without sleeping.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ManualClock } from '../../src/clock.js';
import { resolveConfig, type SafetynetConfig } from '../../src/config/index.js';
import { createLogger, type LogEntry, type Logger } from '../../src/log/index.js';
import { buildApp } from '../../src/web/app.js';
import { startAdminServer } from '../../src/web/server.js';
import type { ScryptParams } from '../../src/web/auth/password.js';
import type { ThrottleOptions } from '../../src/web/auth/throttle.js';
import { FileAdminUserStore } from '../../src/web/auth/users.js';
import type { BackupsPageProvider } from '../../src/web/backups.js';

/** Cheap scrypt for tests (16 MiB, ~50 ms); production uses DEFAULT_SCRYPT. */
export const TEST_SCRYPT: ScryptParams = { N: 2 ** 14, r: 8, p: 1 };

export const ALICE = { user: 'alice', password: 'correct horse battery' } as const;

export interface Panel {
  app: FastifyInstance;
  config: SafetynetConfig;
  clock: ManualClock;
  logger: Logger;
  users: FileAdminUserStore;
  dir: string;
  /** The listening URL when `listen` was asked for. */
  url: string;
  /** Logs in through the form; returns the session cookie value and the session's CSRF token. */
  login(user?: string, password?: string, address?: string): Promise<{ session: string; csrf: string }>;
  /** GET with the session cookie. */
  get(url: string, session?: string): Promise<LightMyRequestResponse>;
  /** Entries of a category, newest first (after flushing the logger). */
  entries(category: string): Promise<LogEntry[]>;
  close(): Promise<void>;
}

export interface PanelOptions {
  throttle?: ThrottleOptions;
  backups?: BackupsPageProvider;
  /** Use the default SQLite session store instead of memory (restart tests). */
  sqliteSessions?: boolean;
  trustProxy?: boolean;
  now?: number;
  /** Listen on 127.0.0.1 with a random port (browser tests); `url` is then set. */
  listen?: boolean;
  /** Per-level counts on the Logs page stop after this many matching entries. */
  countLimit?: number;
}

/** Pulls the first `name="_csrf" value="…"` out of a page. */
export function csrfOf(body: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(body);
  if (!m) throw new Error('no CSRF field in page');
  return m[1]!;
}

/** Inject options for an HTML form POST body. */
export function form(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

export function cookieOf(res: LightMyRequestResponse, name: string): string | undefined {
  return res.cookies.find((c) => c.name === name)?.value;
}

export async function makePanel(options: PanelOptions = {}): Promise<Panel> {
  const dir = mkdtempSync(path.join(tmpdir(), 'safetynet-web-'));
  const config = resolveConfig({}, { file: null, baseDir: dir, env: {} });
  const clock = new ManualClock(options.now ?? Date.UTC(2026, 10, 26, 12, 0, 0));
  const logger = await createLogger({
    config,
    clock,
    writer: 'inline',
    flushOnExit: false,
    notify: () => {},
  });
  const users = new FileAdminUserStore(config.admin.users, { scrypt: TEST_SCRYPT, now: () => clock.now() });
  await users.add(ALICE.user, ALICE.password);
  const { MemorySessionStore } = await import('../../src/web/auth/sessions.js');
  const deps = {
    config,
    logStore: logger.store,
    logger,
    users,
    clock,
    ...(options.sqliteSessions ? {} : { sessions: new MemorySessionStore() }),
    ...(options.throttle ? { throttle: options.throttle } : {}),
    ...(options.backups ? { backups: options.backups } : {}),
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    ...(options.countLimit ? { logCountLimit: options.countLimit } : {}),
  };
  let app: FastifyInstance;
  let url = '';
  if (options.listen) {
    const server = await startAdminServer(deps, { host: '127.0.0.1', port: 0 });
    app = server.app;
    url = server.url;
  } else {
    app = await buildApp(deps);
  }

  const panel: Panel = {
    app,
    config,
    clock,
    logger,
    users,
    dir,
    url,
    async login(user = ALICE.user, password = ALICE.password, address = '127.0.0.1') {
      const page = await app.inject({ method: 'GET', url: '/login', remoteAddress: address });
      const loginCookie = cookieOf(page, 'sn_login')!;
      const res = await app.inject({
        method: 'POST',
        url: '/login',
        remoteAddress: address,
        cookies: { sn_login: loginCookie },
        ...form({ user, password, _csrf: csrfOf(page.body), next: '/logs' }),
      });
      const session = cookieOf(res, 'sn_session');
      if (res.statusCode !== 303 || !session)
        throw new Error(`login failed: ${res.statusCode} ${res.body.slice(0, 300)}`);
      const logs = await app.inject({ method: 'GET', url: '/logs', cookies: { sn_session: session } });
      return { session, csrf: csrfOf(logs.body) };
    },
    get(url, session) {
      return app.inject({ method: 'GET', url, ...(session ? { cookies: { sn_session: session } } : {}) });
    },
    async entries(category) {
      await logger.flush();
      return (await logger.store.search({ categories: [category] }, { limit: 1000 })).entries;
    },
    async close() {
      await app.close();
      await logger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return panel;
}
