/**
 * Starts the admin panel on `admin.host`/`admin.port` (PORT in the environment overrides the port;
 * the config loader applies it). The caller owns the dependencies; `close()` stops listening.
 */
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { SafetynetError } from '../errors.js';
import { buildApp, type WebDeps } from './app.js';

export interface AdminServer {
  app: FastifyInstance;
  /** e.g. "http://127.0.0.1:3000" (the real port when 0 was asked for). */
  url: string;
  close(): Promise<void>;
}

/** Builds the panel and listens. Options override the configured host/port (tests pass port 0). */
export async function startAdminServer(
  deps: WebDeps,
  options: { host?: string; port?: number } = {},
): Promise<AdminServer> {
  const host = options.host ?? deps.config.admin.host;
  const port = options.port ?? deps.config.admin.port;
  const app = await buildApp(deps);
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new SafetynetError(
      'E_ADMIN_LISTEN',
      `the admin panel cannot listen on ${host}:${port}: ${(err as Error).message}`,
      {
        hint:
          code === 'EADDRINUSE'
            ? 'another program uses that port: set admin.port in the config (or PORT) to a free port'
            : 'check admin.host and admin.port in the config',
        cause: err,
      },
    );
  }
  const addr = app.server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { app, url: `http://${shownHost}:${addr.port}`, close: () => app.close() };
}
