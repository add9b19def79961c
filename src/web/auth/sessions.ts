/**
 * Admin sessions. The browser holds a random 256-bit id; the server keeps only its SHA-256, so a
 * leaked sessions table cannot be replayed as cookies. Each session carries its CSRF token (the
 * synchronizer token put in every form), the user's password stamp, and its two expiry clocks.
 *
 * Two stores: SQLite (the default: logins survive a restart of `safetynet serve`) and memory
 * (tests, or when nothing may be written).
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';

export interface SessionRecord {
  /** SHA-256 of the session id (base64url); the id itself is never stored. */
  idHash: string;
  user: string;
  /** The user's password stamp when the session was created. */
  stamp: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  /** One message to show on the next page (e.g. the result of "Back up now"). */
  flash: string | null;
}

/** A value now (memory, SQLite) or later (PostgreSQL): callers always await. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where sessions live. Memory and SQLite answer at once; PostgreSQL (shared by several panel
 * instances, see pg-state.ts) answers later. Every implementation passes test/web/auth-state-conformance.ts.
 */
export interface SessionStore {
  insert(record: SessionRecord): MaybePromise<void>;
  get(idHash: string): MaybePromise<SessionRecord | undefined>;
  touch(idHash: string, at: number): MaybePromise<void>;
  setFlash(idHash: string, flash: string | null): MaybePromise<void>;
  delete(idHash: string): MaybePromise<void>;
  /** Deletes sessions idle since before `idleBefore` or created before `createdBefore`. */
  purge(idleBefore: number, createdBefore: number): MaybePromise<void>;
  close(): MaybePromise<void>;
}

/** A new random session id (what the cookie carries). */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** A new random CSRF token. */
export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored form of a session id. */
export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** Constant-time comparison of two tokens (false when the lengths differ). */
export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Sessions in memory: lost on restart (everyone logs in again). */
export class MemorySessionStore implements SessionStore {
  private readonly map = new Map<string, SessionRecord>();
  insert(record: SessionRecord): void {
    this.map.set(record.idHash, { ...record });
  }
  get(idHash: string): SessionRecord | undefined {
    const r = this.map.get(idHash);
    return r ? { ...r } : undefined;
  }
  touch(idHash: string, at: number): void {
    const r = this.map.get(idHash);
    if (r) r.lastSeenAt = at;
  }
  setFlash(idHash: string, flash: string | null): void {
    const r = this.map.get(idHash);
    if (r) r.flash = flash;
  }
  delete(idHash: string): void {
    this.map.delete(idHash);
  }
  purge(idleBefore: number, createdBefore: number): void {
    for (const [k, r] of this.map)
      if (r.lastSeenAt < idleBefore || r.createdAt < createdBefore) this.map.delete(k);
  }
  close(): void {
    this.map.clear();
  }
}

interface SessionRow {
  id_hash: string;
  user: string;
  stamp: string;
  csrf: string;
  created_at: number;
  last_seen_at: number;
  flash: string | null;
}

/** Sessions in a small SQLite file (mode 0600), so a restart does not log everyone out. */
export class SqliteSessionStore implements SessionStore {
  private readonly db: Database.Database;
  private readonly stmts: {
    insert: Database.Statement;
    get: Database.Statement;
    touch: Database.Statement;
    flash: Database.Statement;
    del: Database.Statement;
    purge: Database.Statement;
  };

  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file, { timeout: 2000 });
    this.db.pragma('journal_mode = WAL');
    // A lost session costs a login, not data: no fsync per request.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS admin_sessions (
      id_hash TEXT PRIMARY KEY,
      user TEXT NOT NULL,
      stamp TEXT NOT NULL,
      csrf TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      last_seen_at INTEGER NOT NULL,
      flash TEXT
    ) WITHOUT ROWID`);
    try {
      // The CSRF tokens inside are secrets of live sessions.
      chmodSync(file, 0o600);
    } catch {
      // Best effort: some file systems ignore modes.
    }
    this.stmts = {
      insert: this.db.prepare(
        'INSERT INTO admin_sessions (id_hash, user, stamp, csrf, created_at, last_seen_at, flash) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      get: this.db.prepare('SELECT * FROM admin_sessions WHERE id_hash = ?'),
      touch: this.db.prepare('UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ?'),
      flash: this.db.prepare('UPDATE admin_sessions SET flash = ? WHERE id_hash = ?'),
      del: this.db.prepare('DELETE FROM admin_sessions WHERE id_hash = ?'),
      purge: this.db.prepare('DELETE FROM admin_sessions WHERE last_seen_at < ? OR created_at < ?'),
    };
  }

  insert(r: SessionRecord): void {
    this.stmts.insert.run(r.idHash, r.user, r.stamp, r.csrfToken, r.createdAt, r.lastSeenAt, r.flash);
  }
  get(idHash: string): SessionRecord | undefined {
    const row = this.stmts.get.get(idHash) as SessionRow | undefined;
    if (!row) return undefined;
    return {
      idHash: row.id_hash,
      user: row.user,
      stamp: row.stamp,
      csrfToken: row.csrf,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      flash: row.flash,
    };
  }
  touch(idHash: string, at: number): void {
    this.stmts.touch.run(at, idHash);
  }
  setFlash(idHash: string, flash: string | null): void {
    this.stmts.flash.run(flash, idHash);
  }
  delete(idHash: string): void {
    this.stmts.del.run(idHash);
  }
  purge(idleBefore: number, createdBefore: number): void {
    this.stmts.purge.run(idleBefore, createdBefore);
  }
  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Where the SQLite session store lives by default: next to the admin users file. */
export function defaultSessionFile(usersFile: string): string {
  return path.join(path.dirname(usersFile), 'admin-sessions.sqlite');
}
