/**
 * The secret key of blob ids: blob id = HMAC-SHA-256(key, SHA-256(chunk)).
 *
 * Where it lives: `<backup.stateDir>/files/blob-key` (mode 0600), on the machine that makes the
 * backups, never in the repository. Blob ids appear only in that machine's local cache, never in
 * the bucket (sealed manifests name packs, offsets and plain SHA-256s; pack names are random), so
 * someone holding the cache cannot test "is this known file backed up?" without the key either.
 *
 * When it is lost: a new key is made. Restores never need it (manifests map files to packs
 * directly). Deduplication against older content continues when the identity is available,
 * because the cache is then rebuilt from the sealed manifests' plain SHA-256s with the new key;
 * without the identity, the next backup stores its content again (once) and dedups from then on.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { SafetynetError, isErrno } from '../../../errors.js';
import { writeFileAtomic } from '../../../util/fs.js';

export interface BlobKey {
  /** A short public fingerprint, so a cache made with another key is recognised and dropped. */
  readonly id: string;
  /** Blob id of a chunk whose plain SHA-256 is `sha256` (32 bytes or 64 hex). */
  blobId(sha256: Buffer | string): string;
}

const KEY_FILE = 'blob-key';

function makeBlobKey(secret: Buffer): BlobKey {
  return {
    id: createHmac('sha256', secret).update('safetynet blob key id').digest('hex').slice(0, 16),
    blobId(sha256: Buffer | string): string {
      const raw = typeof sha256 === 'string' ? Buffer.from(sha256, 'hex') : sha256;
      return createHmac('sha256', secret).update(raw).digest('hex');
    },
  };
}

/** Loads the blob key from `<stateDir>/files/`, creating it on first use. */
export async function loadOrCreateBlobKey(stateDir: string): Promise<BlobKey & { created: boolean }> {
  const file = path.join(stateDir, 'files', KEY_FILE);
  try {
    const text = (await fsp.readFile(file, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) {
      throw new SafetynetError(
        'E_BLOB_KEY_CORRUPT',
        `the blob key file ${file} is damaged (expected 64 hex digits)`,
        {
          hint: `remove ${file}; a new key is made on the next backup (restores never need it; unchanged content is stored once more unless the identity is configured)`,
          exitCode: 1,
        },
      );
    }
    return { ...makeBlobKey(Buffer.from(text, 'hex')), created: false };
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const secret = randomBytes(32);
  await writeFileAtomic(file, secret.toString('hex') + '\n', 0o600);
  return { ...makeBlobKey(secret), created: true };
}

/** SHA-256 of `data` (raw bytes). */
export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}
