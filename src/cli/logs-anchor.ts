/**
 * `safetynet logs anchor` and the anchor half of `safetynet logs verify`: chain anchors (see
 * src/log/anchor.ts) live in the backup repository.
 */
import { openRepository } from '../backup/context.js';
import { systemClock } from '../clock.js';
import { SafetynetError } from '../errors.js';
import { checkAnchors, readAnchors, takeAnchor, writeAnchor, type AnchorCheck } from '../log/anchor.js';
import type { LogStore } from '../log/store/types.js';
import { describeStore } from '../log/writer-core.js';
import type { CommandContext } from './context.js';

function repository(ctx: CommandContext) {
  const repo = openRepository(ctx.config, systemClock);
  ctx.defer(() => repo.close());
  return repo;
}

/** Writes an anchor of `store` into the repository now; prints its key. */
export async function writeAnchorCommand(ctx: CommandContext, store: LogStore): Promise<void> {
  const repo = repository(ctx);
  const cfg = ctx.config.logs.store;
  const anchor = await takeAnchor(store, `${cfg.type}:${describeStore(cfg)}`, systemClock.now());
  await repo.prepareForWrite();
  const key = await writeAnchor(repo.storage, anchor);
  if (ctx.json) ctx.printJson({ key, heads: anchor.heads.length, createdAt: anchor.createdAt });
  else ctx.print(`anchored ${anchor.heads.length} chains in ${repo.storage.url} (${key})`);
}

/** Checks `store` against every anchor in the repository (an unreadable repository is a failure). */
export async function verifyAnchors(
  ctx: CommandContext,
  store: LogStore,
): Promise<AnchorCheck & { repository: string; unreadable: number }> {
  const repo = repository(ctx);
  let read;
  try {
    read = await readAnchors(repo.storage);
  } catch (err) {
    // No repository folder yet (no backup has run): there are no anchors to check against.
    if (!(err instanceof SafetynetError && err.code === 'E_STORAGE_NO_FOLDER')) throw err;
    read = { anchors: [], unreadable: [] };
  }
  const { anchors, unreadable } = read;
  for (const u of unreadable) ctx.note(`warning: ${u.message}`);
  return {
    ...(await checkAnchors(store, anchors)),
    repository: repo.storage.url,
    unreadable: unreadable.length,
  };
}
