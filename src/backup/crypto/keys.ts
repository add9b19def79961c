/**
 * age X25519 keys: `age1…` recipients (public, go in `backup.recipients`) and `AGE-SECRET-KEY-1…`
 * identities (secret, live only in the identity file). An Identity object never reveals its secret
 * through JSON, `util.inspect` or string conversion, so it cannot leak into logs by accident.
 */
import { inspect } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { ConfigError, SafetynetError, ExitCode } from '../../errors.js';
import { bech32Decode, bech32Encode } from './bech32.js';
import {
  X25519_KEY_BYTES,
  generateRawKeyPair,
  privateKeyFromRaw,
  publicKeyFromRaw,
  rawPublicKey,
  x25519,
} from './x25519.js';

const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';

/** An age X25519 recipient: whoever holds the matching identity can open what is sealed to it. */
export class Recipient {
  readonly type = 'X25519' as const;
  /** The `age1…` encoding. */
  readonly text: string;
  /** The raw 32-byte X25519 public value. */
  readonly publicKey: Buffer;
  /** @internal The public key as a node:crypto object (for the key exchange). */
  readonly keyObject: KeyObject;

  constructor(publicKey: Uint8Array) {
    this.publicKey = Buffer.from(publicKey);
    this.text = bech32Encode(RECIPIENT_HRP, this.publicKey);
    this.keyObject = publicKeyFromRaw(this.publicKey);
  }

  toString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

// Secrets live here rather than on the object, so no property walk (JSON, inspect, a logger's
// serialiser, structured clone) can ever reach them.
const secrets = new WeakMap<Identity, { secret: Buffer; privateKey: KeyObject }>();

/** An age X25519 identity (secret key). */
export class Identity {
  readonly type = 'X25519' as const;
  /** The matching `age1…` recipient. */
  readonly recipient: string;
  /** The matching raw public value. */
  readonly publicKey: Buffer;
  /** Where it was loaded from, for error messages (never the secret itself). */
  readonly source: string | undefined;

  constructor(secret: Uint8Array, source?: string) {
    const privateKey = privateKeyFromRaw(secret);
    this.publicKey = rawPublicKey(privateKey);
    this.recipient = bech32Encode(RECIPIENT_HRP, this.publicKey);
    this.source = source;
    secrets.set(this, { secret: Buffer.from(secret), privateKey });
  }

  /** X25519(identity, share), or null for an all-zero result (a low-order share). */
  sharedSecret(share: KeyObject): Buffer | null {
    return x25519(secrets.get(this)!.privateKey, share);
  }

  toString(): string {
    return `Identity(${this.recipient})`;
  }
  toJSON(): Record<string, unknown> {
    return { type: this.type, recipient: this.recipient, ...(this.source ? { source: this.source } : {}) };
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * @internal The `AGE-SECRET-KEY-1…` text of an identity. Only for handing identities to worker
 * threads in memory and for writing the identity file; never log or store it anywhere else.
 */
export function encodeIdentity(identity: Identity): string {
  return bech32Encode(IDENTITY_HRP, secrets.get(identity)!.secret).toUpperCase();
}

/** Generates a fresh identity and its recipient. */
export function generateIdentity(): { identity: string; recipient: string } {
  const { secret, publicKey } = generateRawKeyPair();
  return {
    identity: bech32Encode(IDENTITY_HRP, secret).toUpperCase(),
    recipient: bech32Encode(RECIPIENT_HRP, publicKey),
  };
}

/**
 * Parses an `AGE-SECRET-KEY-1…` string. Throws E_IDENTITY_INVALID; the message never repeats the
 * text, since it may be a slightly damaged secret.
 */
export function parseIdentity(text: string, where = 'the identity', source?: string): Identity {
  const decoded = bech32Decode(text.trim());
  const invalid = (why: string) =>
    new SafetynetError('E_IDENTITY_INVALID', `${where} is not a valid age identity: ${why}`, {
      hint: 'an identity file holds lines starting with "AGE-SECRET-KEY-1" (from `safetynet keygen` or age-keygen); restore it from your safe copy',
      exitCode: ExitCode.usage,
    });
  if (/^AGE-SECRET-KEY-PQ-/i.test(text.trim())) {
    throw invalid('post-quantum (AGE-SECRET-KEY-PQ-1…) identities are not supported, only X25519 ones');
  }
  if (!decoded) throw invalid('it is not Bech32 text with a valid checksum');
  if (decoded.hrp !== IDENTITY_HRP) throw invalid('it does not start with "AGE-SECRET-KEY-1"');
  if (text.trim() !== text.trim().toUpperCase()) throw invalid('age identities are written in upper case');
  if (decoded.data.length !== X25519_KEY_BYTES)
    throw invalid(`it holds ${decoded.data.length} bytes, not 32`);
  return new Identity(decoded.data, source);
}

/** The `age1…` recipient of an `AGE-SECRET-KEY-1…` identity. */
export function identityToRecipient(identity: string): string {
  return parseIdentity(identity).recipient;
}

/** Why `text` is not a usable recipient, or the recipient. */
function decodeRecipient(text: string): Recipient | string {
  const t = text.trim();
  if (/^AGE-SECRET-KEY-/i.test(t)) {
    return 'this is a secret identity, not a recipient (and it must never be in the config)';
  }
  if (/^age1pq1/i.test(t)) return 'post-quantum (age1pq1…) recipients are not supported, only X25519 ones';
  const decoded = bech32Decode(t);
  if (!decoded) return 'it is not Bech32 text with a valid checksum (a typo or a cut-off copy?)';
  // Bech32 splits at the last "1": "age1tag1…" or "age1yubikey1…" have a longer prefix.
  if (decoded.hrp.startsWith('age1')) {
    return 'plugin and tagged recipients are not supported, only X25519 "age1…" ones';
  }
  if (decoded.hrp !== RECIPIENT_HRP) return 'it does not start with "age1"';
  if (t !== t.toLowerCase()) return 'age recipients are written in lower case';
  if (decoded.data.length !== X25519_KEY_BYTES) return `it holds ${decoded.data.length} bytes, not 32`;
  const recipient = new Recipient(decoded.data);
  // A low-order point would make every shared secret zero: the spec refuses it, so do we, early.
  if (x25519(generateRawKeyPair().privateKey, recipient.keyObject) === null) {
    return 'it is a weak (low-order) X25519 point that no real key has';
  }
  return recipient;
}

/** Parses one `age1…` recipient; throws E_BAD_RECIPIENT naming `where`. */
export function parseRecipient(text: string, where = 'the recipient'): Recipient {
  const r = typeof text === 'string' ? decodeRecipient(text) : 'it is not a string';
  if (typeof r === 'string') {
    const shown = typeof text === 'string' && !/^AGE-SECRET-KEY-/i.test(text.trim()) ? ` "${text}"` : '';
    throw new ConfigError('E_BAD_RECIPIENT', `${where}${shown} is not a valid age X25519 recipient: ${r}`, {
      hint: `set ${where} to the "age1…" public key printed by \`safetynet keygen\` (or \`age-keygen -y IDENTITY_FILE\`)`,
    });
  }
  return r;
}

/**
 * Parses `backup.recipients`. Errors name the entry (`backup.recipients[i]`). Duplicates are
 * dropped (sealing twice to one key only makes the header longer).
 */
export function parseRecipients(list: string[], field = 'backup.recipients'): Recipient[] {
  const out: Recipient[] = [];
  const seen = new Set<string>();
  list.forEach((text, i) => {
    const r = parseRecipient(text, `${field}[${i}]`);
    if (!seen.has(r.text)) {
      seen.add(r.text);
      out.push(r);
    }
  });
  return out;
}
