/**
 * Password hashing with scrypt (node:crypto), a memory-hard KDF: each guess costs an attacker
 * N*r*128 bytes of memory as well as time, which blunts GPU/ASIC cracking of a stolen users file.
 *
 * Stored form: `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`. The parameters travel with the hash so
 * they can be raised later without invalidating existing accounts.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { UsageError } from '../../errors.js';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelisation. */
  p: number;
}

/**
 * OWASP's scrypt recommendation N=2^16, r=8, p=2: 64 MiB per hash, about 0.4 s here. (2^17/8/1
 * is equivalent but needs 128 MiB per concurrent login.)
 */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { N: 2 ** 16, r: 8, p: 2 };

export const PASSWORD_MIN_LENGTH = 12;
/** An upper bound so a huge "password" cannot be used to burn CPU. */
export const PASSWORD_MAX_LENGTH = 1024;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

/** The password rules, in words (shown by the CLI and in errors). */
export const PASSWORD_RULES = `at least ${PASSWORD_MIN_LENGTH} characters (spaces allowed, a passphrase is fine), at most ${PASSWORD_MAX_LENGTH}, and not the user name`;

/** Throws a UsageError saying which rule a new password breaks. */
export function checkPasswordRules(password: string, userName: string): void {
  const length = [...password].length;
  const fail = (what: string): never => {
    throw new UsageError('E_WEAK_PASSWORD', `the password ${what}`, {
      hint: `choose a password with ${PASSWORD_RULES}`,
    });
  };
  if (length < PASSWORD_MIN_LENGTH)
    fail(`has ${length} characters; at least ${PASSWORD_MIN_LENGTH} are required`);
  if (length > PASSWORD_MAX_LENGTH)
    fail(`has ${length} characters; at most ${PASSWORD_MAX_LENGTH} are allowed`);
  if (password.trim().toLowerCase() === userName.trim().toLowerCase()) fail('is the user name');
  if (/^(.)\1*$/su.test(password)) fail('is one character repeated');
}

// Several concurrent logins each hold N*r*128 bytes; two at a time bounds the memory a burst of
// attempts can take (the rest wait their turn).
const MAX_CONCURRENT = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    const options: ScryptOptions = {
      N: params.N,
      r: params.r,
      p: params.p,
      maxmem: 256 * params.N * params.r + 1024 * 1024,
    };
    return await new Promise<Buffer>((resolve, reject) =>
      scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) =>
        err ? reject(err) : resolve(key),
      ),
    );
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  const m = /^scrypt\$(\d{1,10})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/=]{8,})\$([A-Za-z0-9+/=]{16,})$/.exec(
    stored,
  );
  if (!m) return undefined;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  // Refuse parameters that are not a valid scrypt cost or would take absurd memory.
  if (params.N < 2 || (params.N & (params.N - 1)) !== 0 || params.N > 2 ** 22 || params.r < 1 || params.p < 1)
    return undefined;
  return { params, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') };
}

/** True when `stored` is a hash this module can verify. */
export function isPasswordHash(stored: string): boolean {
  return parseHash(stored) !== undefined;
}

/** Compares a password with a stored hash in constant time (false for a malformed hash). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  if ([...password].length > PASSWORD_MAX_LENGTH) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

/** True when the stored hash uses weaker parameters than `params` (worth re-hashing at next login). */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parseHash(stored);
  if (!parsed) return true;
  const cost = (x: ScryptParams): number => x.N * x.r * x.p;
  return cost(parsed.params) < cost(params) || parsed.params.N * parsed.params.r < params.N * params.r;
}
