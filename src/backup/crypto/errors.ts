/** The two ways opening an object fails, with messages that say what to do. */
import { ConfigError, IntegrityError } from '../../errors.js';
import type { Identity } from './keys.js';

/** Names the object in messages, when the caller knows it (a storage key). */
export interface ObjectContext {
  name?: string;
}

function subject(ctx: ObjectContext): string {
  return ctx.name ? `object ${ctx.name}` : 'the object';
}

/** E_OBJECT_CORRUPT: the bytes are not what was sealed (bad MAC or tag, truncated, trailing data…). */
export function corruptError(why: string, ctx: ObjectContext = {}, cause?: unknown): IntegrityError {
  return new IntegrityError('E_OBJECT_CORRUPT', `${subject(ctx)} is corrupt: ${why}`, {
    hint: 'its stored bytes were damaged, cut short or replaced; restore from another restore point and run `safetynet verify --read-data` to list every point it affects',
    details: { ...(ctx.name ? { object: ctx.name } : {}), reason: why },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** E_IDENTITY_WRONG: none of the given identities is a recipient of the object. */
export function wrongIdentityError(identities: Identity[], ctx: ObjectContext = {}): ConfigError {
  const which = identities
    .map((i) => (i.source ? `${i.source} (public key ${i.recipient})` : `public key ${i.recipient}`))
    .join(', ');
  const what =
    identities.length === 1
      ? `the identity ${which} does not match the repository's recipients`
      : `none of the identities ${which} matches the repository's recipients`;
  return new ConfigError('E_IDENTITY_WRONG', `${what}: ${subject(ctx)} was sealed to other keys`, {
    hint: 'set backup.identity to the identity file whose public key was in backup.recipients when the backup was made',
    details: { ...(ctx.name ? { object: ctx.name } : {}), identities: identities.map((i) => i.recipient) },
  });
}
