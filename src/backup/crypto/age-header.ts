/**
 * The age v1 header (c2sp.org/age): version line, one X25519 stanza per recipient, and the
 * HMAC-SHA-256 header MAC. Parsing is strict, as the spec asks: canonical base64, exact line
 * structure, exact stanza sizes. Anything else is a corrupt object.
 *
 * Our headers carry one extra stanza, `-> safetynet/hint TAG…` (age and other implementations
 * ignore stanza types they do not know). Its tags say which X25519 stanza belongs to which
 * recipient, and its body is a digest of the header bytes before it. Without it, a damaged X25519
 * stanza and a wrong identity look the same (the key unwrap fails either way); with it we can say
 * "corrupt" or "wrong identity" for certain. The hint is an aid to diagnosis only: integrity still
 * rests on the header MAC and the payload tags.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  timingSafeEqual,
} from 'node:crypto';
import { b64decode, b64encode } from './base64.js';
import { corruptError, type ObjectContext } from './errors.js';
import type { Identity, Recipient } from './keys.js';
import { generateRawKeyPair, publicKeyFromRaw, x25519 } from './x25519.js';

export const VERSION_LINE = 'age-encryption.org/v1';
export const FILE_KEY_BYTES = 16;
export const HINT_TYPE = 'safetynet/hint';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const HINT_TAG_BYTES = 4;
const HINT_DIGEST_BYTES = 16;
const ZERO_NONCE = Buffer.alloc(12);
const LF = 0x0a;
/** A header larger than this is refused (bounded memory while streaming; ours are ~200 bytes per recipient). */
export const MAX_HEADER_BYTES = 256 * 1024;

export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
  /** Offset of the stanza's first byte and of its body's first byte in the header. */
  start: number;
  bodyStart: number;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** The header bytes the MAC covers: everything up to and including "---". */
  macInput: Buffer;
  mac: Buffer;
  /** Length of the header including the MAC line; the payload starts here. */
  length: number;
}

/** HKDF-SHA-256 with a 32-byte output, as everywhere in age. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
}

function hintTag(share: Uint8Array, recipientPublicKey: Uint8Array): string {
  return b64encode(
    createHash('sha256').update(share).update(recipientPublicKey).digest().subarray(0, HINT_TAG_BYTES),
  );
}

/** A stanza body, base64 wrapped at 64 columns, ending with a line shorter than 64 (maybe empty). */
function wrapBody(body: Uint8Array): string {
  const text = b64encode(body);
  let out = '';
  let i = 0;
  for (; i + 64 <= text.length; i += 64) out += text.slice(i, i + 64) + '\n';
  return out + text.slice(i) + '\n';
}

/** Builds a header wrapping `fileKey` for every recipient. */
export function buildHeader(
  fileKey: Uint8Array,
  recipients: Recipient[],
  opts: { hint?: boolean } = {},
): Buffer {
  let text = VERSION_LINE + '\n';
  const tags: string[] = [];
  for (const r of recipients) {
    // A fresh ephemeral key per stanza and per file, as the spec requires.
    const eph = generateRawKeyPair();
    const shared = x25519(eph.privateKey, r.keyObject);
    if (!shared) throw new Error(`recipient ${r.text} is a low-order point`); // parseRecipient already refuses these
    const wrapKey = hkdf(shared, Buffer.concat([eph.publicKey, r.publicKey]), X25519_INFO);
    const c = createCipheriv('chacha20-poly1305', wrapKey, ZERO_NONCE, { authTagLength: 16 });
    const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
    text += `-> X25519 ${b64encode(eph.publicKey)}\n${wrapBody(body)}`;
    tags.push(hintTag(eph.publicKey, r.publicKey));
  }
  if (opts.hint !== false) {
    text += `-> ${HINT_TYPE} ${tags.join(' ')}\n`;
    const digest = createHash('sha256').update(text, 'latin1').digest().subarray(0, HINT_DIGEST_BYTES);
    text += wrapBody(digest);
  }
  text += '---';
  const mac = headerMac(fileKey, Buffer.from(text, 'latin1'));
  return Buffer.from(`${text} ${b64encode(mac)}\n`, 'latin1');
}

function isVchar(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Parses the header at the start of `buf`. Returns null when `buf` ends before the header does
 * and more bytes may come (`final` false); throws E_OBJECT_CORRUPT for anything malformed.
 */
export function parseHeader(buf: Buffer, final: boolean, ctx: ObjectContext = {}): ParsedHeader | null {
  let pos = 0;
  const needMore = (): null => {
    if (final || buf.length >= MAX_HEADER_BYTES) {
      throw corruptError(
        buf.length >= MAX_HEADER_BYTES
          ? 'the age header is too large'
          : 'it ends inside the age header (truncated)',
        ctx,
      );
    }
    return null;
  };
  /** The next line without its LF, or null if it is not complete yet. */
  const nextLine = (): string | null => {
    const end = buf.indexOf(LF, pos);
    if (end < 0 || end >= MAX_HEADER_BYTES) return null;
    const line = buf.toString('latin1', pos, end);
    pos = end + 1;
    return line;
  };

  const version = nextLine();
  if (version === null) {
    // Say "not an age file" early instead of waiting for a header that will never come.
    const head = buf.toString('latin1', 0, Math.min(buf.length, VERSION_LINE.length));
    if (!VERSION_LINE.startsWith(head))
      throw corruptError('it is not an age file (no age-encryption.org/v1 line)', ctx);
    return needMore();
  }
  if (version !== VERSION_LINE) {
    if (version.startsWith('-----BEGIN AGE ENCRYPTED FILE')) {
      throw corruptError('it is an ASCII-armored age file; objects are binary age files', ctx);
    }
    throw corruptError(
      version.startsWith('age-encryption.org/')
        ? 'unsupported age version line'
        : 'it is not an age file (no age-encryption.org/v1 line)',
      ctx,
    );
  }

  const stanzas: Stanza[] = [];
  for (;;) {
    const lineStart = pos;
    const line = nextLine();
    if (line === null) return needMore();
    if (line.startsWith('-> ')) {
      const args = line.slice(3).split(' ');
      if (!args.every(isVchar)) throw corruptError('malformed stanza line in the age header', ctx);
      const bodyStart = pos;
      let b64 = '';
      for (;;) {
        const bl = nextLine();
        if (bl === null) return needMore();
        if (bl.length > 64)
          throw corruptError('stanza body line longer than 64 columns in the age header', ctx);
        b64 += bl;
        if (bl.length < 64) break;
      }
      const body = b64decode(b64);
      if (!body) throw corruptError('stanza body is not canonical base64 in the age header', ctx);
      stanzas.push({ type: args[0]!, args: args.slice(1), body, start: lineStart, bodyStart });
      continue;
    }
    if (line.startsWith('--- ')) {
      const macText = line.slice(4);
      const mac = macText.length === 43 ? b64decode(macText) : null;
      if (!mac) throw corruptError('malformed MAC line in the age header', ctx);
      if (stanzas.length === 0) throw corruptError('the age header has no recipient stanza', ctx);
      return { stanzas, macInput: buf.subarray(0, lineStart + 3), mac, length: pos };
    }
    throw corruptError('unexpected line in the age header', ctx);
  }
}

/**
 * Recovers the file key with one of `identities` and checks the header MAC.
 * Returns null when no stanza is addressed to any of them; throws E_OBJECT_CORRUPT when the
 * header is damaged (malformed stanza, bad hint digest, failed unwrap of a stanza the hint says
 * is ours, MAC mismatch).
 */
export function unwrapFileKey(
  header: ParsedHeader,
  identities: Identity[],
  ctx: ObjectContext = {},
): Buffer | null {
  const x25519Stanzas: { share: Buffer; body: Buffer }[] = [];
  let hint: { tags: Set<string> } | null = null;
  for (const s of header.stanzas) {
    if (s.type === 'X25519') {
      const share = s.args.length === 1 ? b64decode(s.args[0]!) : null;
      if (!share || share.length !== 32) throw corruptError('malformed X25519 stanza in the age header', ctx);
      // Checked before any decryption, as the spec asks (partitioning oracles).
      if (s.body.length !== 32) throw corruptError('X25519 stanza body is not 32 bytes', ctx);
      x25519Stanzas.push({ share, body: s.body });
    } else if (s.type === HINT_TYPE) {
      if (hint) throw corruptError('two safetynet hint stanzas in the age header', ctx);
      const digest = createHash('sha256')
        .update(header.macInput.subarray(0, s.bodyStart))
        .digest()
        .subarray(0, HINT_DIGEST_BYTES);
      if (s.body.length !== HINT_DIGEST_BYTES || !timingSafeEqual(digest, s.body)) {
        throw corruptError('the age header was altered (its safetynet hint digest does not match)', ctx);
      }
      hint = { tags: new Set(s.args) };
    }
    // Other stanza types (scrypt, plugins, grease) are not for X25519 identities: ignored, per spec.
  }

  let fileKey: Buffer | null = null;
  search: for (const id of identities) {
    for (const st of x25519Stanzas) {
      const expected = hint ? hint.tags.has(hintTag(st.share, id.publicKey)) : true;
      if (!expected) continue;
      const shared = id.sharedSecret(publicKeyFromRaw(st.share));
      if (!shared) throw corruptError('an X25519 stanza has a weak (low-order) ephemeral share', ctx);
      const wrapKey = hkdf(shared, Buffer.concat([st.share, id.publicKey]), X25519_INFO);
      const d = createDecipheriv('chacha20-poly1305', wrapKey, ZERO_NONCE, { authTagLength: 16 });
      d.setAuthTag(st.body.subarray(16));
      const key = d.update(st.body.subarray(0, 16));
      try {
        d.final();
      } catch {
        // With a hint this stanza is certainly ours, so the failure means damage; without one it
        // is most likely another recipient's stanza.
        if (hint)
          throw corruptError('the X25519 stanza for this identity does not decrypt (damaged header)', ctx);
        continue;
      }
      fileKey = key;
      break search;
    }
  }
  if (!fileKey) return null;
  if (!timingSafeEqual(headerMac(fileKey, header.macInput), header.mac)) {
    throw corruptError('the age header MAC does not match (the header was altered)', ctx);
  }
  return fileKey;
}
