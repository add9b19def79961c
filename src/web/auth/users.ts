/**
 * Admin accounts, kept in one JSON file (config `admin.users`, mode 0600) so the CLI can manage
 * them without the server running and the server picks up changes without a restart.
 *
 * Each user has a `stamp`: a short digest of the password hash. Sessions remember the stamp they
 * were created with, so changing a password or removing a user ends that user's sessions at their
 * next request, even when the change was made by the CLI in another process.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { SafetynetError, UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import {
  DEFAULT_SCRYPT,
  checkPasswordRules,
  hashPassword,
  isPasswordHash,
  needsRehash,
  verifyPassword,
  type ScryptParams,
} from './password.js';

/** What is safe to show about a user (no hash). */
export interface AdminUserInfo {
  name: string;
  createdAt: string;
  passwordChangedAt: string;
}

export type VerifyResult =
  { ok: true; name: string; stamp: string } | { ok: false; reason: 'unknown-user' | 'wrong-password' };

/** Where admin accounts live. The file-based store is the only one for now. */
export interface AdminUserStore {
  list(): Promise<AdminUserInfo[]>;
  /** Adds a user; fails when the name is taken or the password breaks the rules. */
  add(name: string, password: string): Promise<void>;
  /** Replaces a user's password (ending their sessions). */
  setPassword(name: string, password: string): Promise<void>;
  /** Removes a user (ending their sessions). */
  remove(name: string): Promise<void>;
  /** Checks a name and password; always spends the same work, also for unknown names. */
  verify(name: string, password: string): Promise<VerifyResult>;
  /** The user's current stamp, or undefined when the user no longer exists. */
  stamp(name: string): Promise<string | undefined>;
}

interface StoredUser {
  name: string;
  hash: string;
  createdAt: string;
  passwordChangedAt: string;
}

interface UsersFile {
  version: 1;
  users: StoredUser[];
}

/** User names: short, printable, no spaces, so they read well in audit entries. */
export const USER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Throws a UsageError unless `name` is an acceptable user name. */
export function checkUserName(name: string): void {
  if (!USER_NAME_RE.test(name)) {
    throw new UsageError('E_BAD_USER', `--user: "${name.slice(0, 80)}" is not a valid user name`, {
      hint: 'use 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit',
    });
  }
}

function stampOf(hash: string): string {
  return createHash('sha256').update(hash).digest('base64url').slice(0, 22);
}

export interface FileAdminUserStoreOptions {
  /** scrypt cost for new hashes (tests lower it; production keeps the default). */
  scrypt?: ScryptParams;
  /** ISO timestamps for created/changed fields. */
  now?: () => number;
}

/** Admin users in a JSON file, re-read whenever the file changes on disk. */
export class FileAdminUserStore implements AdminUserStore {
  private readonly scrypt: ScryptParams;
  private readonly now: () => number;
  private cache: { key: string; data: UsersFile } | undefined;
  private dummyHash: Promise<string> | undefined;
  // Serialises this process's read-modify-write cycles.
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    options: FileAdminUserStoreOptions = {},
  ) {
    this.scrypt = options.scrypt ?? DEFAULT_SCRYPT;
    this.now = options.now ?? Date.now;
  }

  private async read(): Promise<UsersFile> {
    let stat;
    try {
      stat = await fsp.stat(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, users: [] };
      throw this.fileError('read', err);
    }
    const key = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    if (this.cache?.key === key) return this.cache.data;
    let data: UsersFile;
    try {
      data = parseUsersFile(await fsp.readFile(this.file, 'utf8'), this.file);
    } catch (err) {
      if (err instanceof SafetynetError) throw err;
      throw this.fileError('read', err);
    }
    this.cache = { key, data };
    return data;
  }

  private async write(data: UsersFile): Promise<void> {
    try {
      await writeFileAtomic(this.file, JSON.stringify(data, null, 2) + '\n', 0o600);
    } catch (err) {
      throw this.fileError('write', err);
    }
    this.cache = undefined;
  }

  private fileError(op: string, err: unknown): SafetynetError {
    return new SafetynetError(
      'E_ADMIN_USERS',
      `cannot ${op} the admin users file ${this.file}: ${(err as Error).message}`,
      {
        hint: 'check that admin.users in the config names a file this user can read and write',
        cause: err,
      },
    );
  }

  private modify(fn: (data: UsersFile) => Promise<void>): Promise<void> {
    const run = this.writing.then(async () => {
      const current = await this.read();
      const data: UsersFile = { version: 1, users: current.users.map((u) => ({ ...u })) };
      await fn(data);
      await this.write(data);
    });
    this.writing = run.catch(() => {});
    return run;
  }

  async list(): Promise<AdminUserInfo[]> {
    const { users } = await this.read();
    return users
      .map(({ name, createdAt, passwordChangedAt }) => ({ name, createdAt, passwordChangedAt }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async add(name: string, password: string): Promise<void> {
    checkUserName(name);
    checkPasswordRules(password, name);
    const hash = await hashPassword(password, this.scrypt);
    await this.modify(async (data) => {
      if (data.users.some((u) => u.name.toLowerCase() === name.toLowerCase())) {
        throw new UsageError('E_USER_EXISTS', `admin user "${name}" already exists`, {
          hint: `use "safetynet admin passwd --user ${name}" to change the password, or pick another name`,
        });
      }
      const at = new Date(this.now()).toISOString();
      data.users.push({ name, hash, createdAt: at, passwordChangedAt: at });
    });
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkPasswordRules(password, name);
    const hash = await hashPassword(password, this.scrypt);
    await this.modify(async (data) => {
      const user = findUser(data, name);
      user.hash = hash;
      user.passwordChangedAt = new Date(this.now()).toISOString();
    });
  }

  async remove(name: string): Promise<void> {
    await this.modify(async (data) => {
      const user = findUser(data, name);
      data.users = data.users.filter((u) => u !== user);
    });
  }

  async verify(name: string, password: string): Promise<VerifyResult> {
    const { users } = await this.read();
    const user = users.find((u) => u.name === name);
    if (!user) {
      // Spend the same work as a real check so response times do not reveal which names exist.
      this.dummyHash ??= hashPassword('not a password of anyone', this.scrypt);
      await verifyPassword(password, await this.dummyHash);
      return { ok: false, reason: 'unknown-user' };
    }
    if (!(await verifyPassword(password, user.hash))) return { ok: false, reason: 'wrong-password' };
    if (needsRehash(user.hash, this.scrypt)) await this.rehash(name, password, user.hash);
    const current = (await this.read()).users.find((u) => u.name === name);
    return { ok: true, name, stamp: stampOf(current?.hash ?? user.hash) };
  }

  /** Upgrades a hash made with older, weaker parameters; keeps the stamp's meaning (same password). */
  private async rehash(name: string, password: string, oldHash: string): Promise<void> {
    const hash = await hashPassword(password, this.scrypt);
    await this.modify(async (data) => {
      const user = data.users.find((u) => u.name === name);
      if (user && user.hash === oldHash) user.hash = hash;
    }).catch(() => {
      // Not being able to upgrade is no reason to refuse a correct login.
    });
  }

  async stamp(name: string): Promise<string | undefined> {
    const user = (await this.read()).users.find((u) => u.name === name);
    return user ? stampOf(user.hash) : undefined;
  }
}

function findUser(data: UsersFile, name: string): StoredUser {
  const user = data.users.find((u) => u.name === name);
  if (!user) {
    throw new UsageError('E_USER_UNKNOWN', `there is no admin user "${name}"`, {
      hint: 'run "safetynet admin list" to see the user names',
    });
  }
  return user;
}

function parseUsersFile(text: string, file: string): UsersFile {
  const bad = (why: string): never => {
    throw new SafetynetError('E_ADMIN_USERS', `the admin users file ${file} is damaged: ${why}`, {
      hint: 'restore it from a backup, or move it away and add the users again with "safetynet admin add"',
    });
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    bad('it is not JSON');
  }
  const obj = json as Partial<UsersFile> | null;
  if (!obj || typeof obj !== 'object' || obj.version !== 1 || !Array.isArray(obj.users))
    bad('expected {"version":1,"users":[…]}');
  for (const u of obj!.users!) {
    if (!u || typeof u.name !== 'string' || typeof u.hash !== 'string' || !isPasswordHash(u.hash)) {
      bad('a user record lacks a name or a valid scrypt hash');
    }
  }
  return obj as UsersFile;
}
