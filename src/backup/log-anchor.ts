/**
 * The backup side of chain anchors (src/log/anchor.ts): after every database backup the heads of
 * the log store's hash chains are written into the backup repository, outside the store's reach.
 * A failure here never fails the backup; it is logged as a warning.
 */
import { takeAnchor, writeAnchor } from '../log/anchor.js';
import { describeStore } from '../log/writer-core.js';
import type { BackupDeps } from './context.js';

/** Writes an anchor of the log store into the repository; returns its key, or undefined on failure. */
export async function sealLogAnchor(deps: BackupDeps): Promise<string | undefined> {
  try {
    const store = `${deps.config.logs.store.type}:${describeStore(deps.config.logs.store)}`;
    const anchor = await takeAnchor(deps.logger.store, store, deps.clock.now());
    return await writeAnchor(deps.repo.storage, anchor);
  } catch (err) {
    await deps.log.warn(`could not write the log chain anchor: ${(err as Error).message}`, {
      details: { repository: deps.repo.storage.url },
    });
    return undefined;
  }
}
