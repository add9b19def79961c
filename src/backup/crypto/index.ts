/**
 * Encryption and compression of backup objects: every stored object is an age v1 file (X25519
 * recipients) whose plaintext is a zstd stream, so `age -d -i KEY OBJECT | zstd -d` opens it
 * without safetynet. See docs/crypto.md.
 */
export {
  Identity,
  Recipient,
  generateIdentity,
  identityToRecipient,
  parseIdentity,
  parseRecipient,
  parseRecipients,
} from './keys.js';
export {
  loadIdentities,
  parseIdentityFile,
  formatIdentityFile,
  writeNewIdentityFile,
} from './identity-file.js';
export {
  sealBuffer,
  openBuffer,
  createSealStream,
  createOpenStream,
  type SealOptions,
  type OpenOptions,
} from './seal.js';
export {
  SealPool,
  type SealPoolOptions,
  type SealResult,
  type OpenResult,
  type PoolCallOptions,
} from './pool.js';
export { DEFAULT_ZSTD_LEVEL } from './zstd.js';
export { CHUNK_BYTES } from './age-payload.js';
export { openInto, sealInto } from './seal.js';
export { allocSharedAligned, SlotPool } from './shared-memory.js';
export type { OpenIntoResult, SealIntoResult } from './pool.js';
