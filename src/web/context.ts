/**
 * What the panel's routes share: the injected dependencies, the session and throttle state, and
 * small helpers for rendering pages and reading the signed-in admin.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import type { SafetynetConfig } from '../config/types.js';
import type { LogStore } from '../log/store/types.js';
import type { AuditLogger } from './audit.js';
import type { Throttle, ThrottleOptions } from './auth/throttle.js';
import type { HashGate } from './auth/hash-gate.js';
import type { SessionStore } from './auth/sessions.js';
import type { AdminUserStore } from './auth/users.js';
import type { BackupsPageProvider } from './backups.js';
import type { SafeHtml } from './html.js';
import type { Viewer } from './views/layout.js';

/** Everything `buildApp` needs. */
export interface WebDeps {
  config: SafetynetConfig;
  /** Read side of the log store (search, counts, single entries). */
  logStore: LogStore;
  /** Where the panel's own `admin` and `security` entries go. */
  logger: AuditLogger;
  users: AdminUserStore;
  clock: Clock;
  /** The Backups page's data; without it there is no Backups page. */
  backups?: BackupsPageProvider;
  /** Session storage; default: SQLite next to the admin users file (logins survive restarts). */
  sessions?: SessionStore;
  /** Login throttling thresholds (defaults: 5 per account, 20 per address, 15 min doubling). */
  throttle?: ThrottleOptions;
  /**
   * Behind a TLS-terminating reverse proxy: the proxy's address(es), or true for any. Then the
   * client address comes from X-Forwarded-For and HTTPS from X-Forwarded-Proto (so cookies get
   * Secure). Default off: headers a client can forge are never believed.
   */
  trustProxy?: boolean | string | string[];
  /**
   * The Logs page's per-level counts stop after about this many matching entries ("at least",
   * with a link to exact counts). Default DEFAULT_COUNT_LIMIT (src/log/store/query.ts).
   */
  logCountLimit?: number;
}

/** The signed-in admin of a request. */
export interface AdminSession {
  user: string;
  idHash: string;
  csrfToken: string;
  flash: string | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route anyone may call without a session (login page, static assets). Default: protected. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** Set by the session hook when a valid session came with the request. */
    admin: AdminSession | null;
  }
}

export interface WebContext {
  deps: WebDeps;
  sessions: SessionStore;
  throttle: Throttle;
  /** Bounds the password hashes in progress (see auth/hash-gate.ts). */
  hashGate: HashGate;
  /** The Viewer (for the page frame) of a signed-in request. */
  viewer(req: FastifyRequest): Viewer | undefined;
  /** The client's address as the socket sees it (no proxy headers are trusted). */
  origin(req: FastifyRequest): string;
  /** Sends a full HTML page. */
  page(reply: FastifyReply, status: number, body: SafeHtml): FastifyReply;
  /** Reads and clears the session's one-time message. */
  takeFlash(req: FastifyRequest): string | null;
  /** Leaves a one-time message for the session's next page. */
  setFlash(req: FastifyRequest, message: string): Promise<void>;
}
