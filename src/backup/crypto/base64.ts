/**
 * The base64 flavour of the age header: standard alphabet, no `=` padding, canonical only (the
 * spec requires decoders to reject non-canonical encodings, so that a header cannot be altered
 * without changing its meaning, which would let a flipped bit slip past unnoticed).
 */

const B64_RE = /^[A-Za-z0-9+/]*$/;

/** Unpadded standard base64. */
export function b64encode(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64').replace(/=+$/, '');
}

/** Decodes canonical unpadded base64; returns null for padding, stray characters or non-zero tail bits. */
export function b64decode(text: string): Buffer | null {
  if (!B64_RE.test(text) || text.length % 4 === 1) return null;
  const out = Buffer.from(text, 'base64');
  // Node ignores non-zero leftover bits; re-encoding exposes them.
  if (b64encode(out) !== text) return null;
  return out;
}
