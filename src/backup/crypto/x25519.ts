/**
 * X25519 on node:crypto (OpenSSL), with raw 32-byte keys. node:crypto only imports keys in
 * DER/PEM/JWK form, so raw keys are wrapped in their fixed PKCS#8 / SPKI DER prefixes.
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto';

// RFC 8410 encodings of an X25519 key: the prefixes are constant, the raw key follows.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export const X25519_KEY_BYTES = 32;

/** A private key object from 32 raw secret bytes (OpenSSL clamps them as RFC 7748 says). */
export function privateKeyFromRaw(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

/** A public key object from a 32-byte public value. */
export function publicKeyFromRaw(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
}

/** The 32-byte public value of a private or public key object. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** 32 fresh random secret bytes and their public value. */
export function generateRawKeyPair(): { secret: Buffer; privateKey: KeyObject; publicKey: Buffer } {
  const secret = randomBytes(X25519_KEY_BYTES);
  const privateKey = privateKeyFromRaw(secret);
  return { secret, privateKey, publicKey: rawPublicKey(privateKey) };
}

/**
 * X25519(private, public). Returns null when the result is all zeros (a low-order public value):
 * the age spec requires aborting then, and OpenSSL may refuse it with an exception instead.
 */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Buffer | null {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    return null;
  }
  let acc = 0;
  for (let i = 0; i < shared.length; i++) acc |= shared[i]!;
  return acc === 0 ? null : shared;
}
