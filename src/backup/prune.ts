/**
 * `safetynet prune`: applies backup.retention (retention-policy.ts) and removes what no kept point
 * needs. Order matters for crash safety: a removed point's catalog entry goes first (the point
 * disappears at once), newest removed point first (so a parent is never removed before an
 * incremental built on it), and objects still referenced by any kept point are never deleted. Then
 * leftovers of interrupted backups (objects no catalog entry references) are swept, under the same
 * exclusive lock, so no backup can be writing them.
 */
import { throwIfStopped } from '../util/abort.js';
import type { BackupDeps } from './context.js';
import { planRetention, type RetentionDecision } from './retention-policy.js';
import { CHUNK_PREFIX, DATA_PREFIX, MANIFEST_PREFIX } from './repo/layout.js';
import type { CatalogEntry } from './repo/types.js';
import { databaseSource } from './sources/index.js';

export interface PruneDecision {
  id: string;
  source: string;
  kind: string;
  time: string;
  keep: boolean;
  reasons: string[];
  storedBytes: number;
}

export interface PruneResult {
  dryRun: boolean;
  kept: number;
  removed: number;
  decisions: PruneDecision[];
  /** Objects no point references (leftovers of interrupted runs). */
  orphans: number;
  /** Damaged catalog entries: while any exists, leftovers are not swept. */
  damagedCatalog: string[];
  /** Bytes freed (or that would be freed, in a dry run). */
  freedBytes: number;
  /** Continuous-log sources (WAL): what of the log is kept and why, and how many objects go. */
  log?: { explain: string[]; kept: number; removed: number };
  durationMs: number;
}

/** Plans (and unless dryRun, carries out) the retention policy. */
export async function pruneRepository(
  deps: BackupDeps,
  opts: { dryRun: boolean; signal?: AbortSignal },
): Promise<PruneResult> {
  const { repo, config } = deps;
  const started = performance.now();
  await repo.requireConfig();
  if (!opts.dryRun) await repo.prepareForWrite();
  const lock = await repo.lock(opts.dryRun ? 'prune --dry-run' : 'prune', !opts.dryRun);
  try {
    const { entries: points, damaged } = await repo.scanCatalog();
    const plan = planRetention(
      points.map((p) => ({
        id: p.id,
        time: Date.parse(p.time),
        kind: p.kind,
        source: p.source,
        ...(p.parent ? { parent: p.parent } : {}),
      })),
      config.backup.retention,
      { timezone: config.backup.timezone },
    );
    const byId = new Map(points.map((p) => [p.id, p]));
    const decisions: PruneDecision[] = plan.map((d: RetentionDecision) => {
      const p = byId.get(d.id)!;
      return {
        id: d.id,
        source: p.source,
        kind: p.kind,
        time: p.time,
        keep: d.keep,
        reasons: d.reasons,
        storedBytes: p.storedBytes,
      };
    });
    const kept = points.filter((p) => plan.find((d) => d.id === p.id)?.keep);
    const removed = points.filter((p) => !plan.find((d) => d.id === p.id)?.keep);
    const keepKeys = new Set<string>();
    for (const p of kept) for (const o of [...p.objects, p.manifest]) keepKeys.add(o.key);

    let freedBytes = 0;
    if (opts.dryRun) {
      const counted = new Set<string>();
      for (const p of removed) {
        for (const o of [...p.objects, p.manifest]) {
          if (keepKeys.has(o.key) || counted.has(o.key)) continue;
          counted.add(o.key);
          freedBytes += o.size;
        }
      }
    } else {
      // Newest first: an incremental is always gone before the point it builds on.
      for (const p of [...removed].sort((a, b) => (a.time < b.time ? 1 : -1))) {
        // Stops between points (SIGTERM): each point is gone whole or still whole; leftovers are swept next run.
        throwIfStopped(opts.signal, 'prune', 'the points not yet removed are kept');
        // Objects shared between removed points are deleted with the first; deleting twice is harmless.
        freedBytes += await repo.deletePoint(p, keepKeys);
      }
    }
    // In a dry run nothing was removed, so orphans are objects no current point references. With a
    // damaged catalog entry we cannot know what its point needs: sweep nothing rather than guess.
    const orphans = damaged.length
      ? { count: 0, bytes: 0 }
      : await sweepOrphans(deps, opts.dryRun ? points : kept, opts.dryRun, opts.signal);
    freedBytes += orphans.bytes;
    // The continuous log (WAL) that neither the point-in-time window nor a kept point needs.
    const source = databaseSource(config);
    let log: PruneResult['log'];
    if (source.retainLog) {
      const keptDb = kept.filter((p) => p.source === 'db');
      const r = await source.retainLog(deps, keptDb, deps.clock.now());
      log = { explain: r.explain, kept: r.keptObjects, removed: r.remove.length };
      for (const o of r.remove) {
        if (!opts.dryRun) await repo.storage.delete(o.key);
        freedBytes += o.size;
      }
    }
    const result: PruneResult = {
      dryRun: opts.dryRun,
      kept: kept.length,
      removed: removed.length,
      decisions,
      orphans: orphans.count,
      damagedCatalog: damaged.map((d) => d.key),
      freedBytes,
      ...(log ? { log } : {}),
      durationMs: Math.round(performance.now() - started),
    };
    if (!opts.dryRun) {
      const perSource: Record<string, number> = {};
      for (const p of removed) perSource[p.source] = (perSource[p.source] ?? 0) + 1;
      await deps.log.info(
        `prune removed ${removed.length} restore points and ${orphans.count} leftover objects, kept ${kept.length}`,
        {
          details: {
            removed: removed.map((p) => p.id),
            perSource,
            kept: kept.length,
            orphans: orphans.count,
            freedBytes,
          },
        },
      );
    }
    return result;
  } catch (err) {
    if (!opts.dryRun)
      await deps.logger.error(err, {
        category: 'backup',
        message: `prune failed: ${(err as Error).message}`,
      });
    throw err;
  } finally {
    await lock.release().catch(() => {});
  }
}

/** Objects under data/, chunks/ and manifests/ that none of `remaining` references. */
async function sweepOrphans(
  deps: BackupDeps,
  remaining: CatalogEntry[],
  dryRun: boolean,
  signal?: AbortSignal,
): Promise<{ count: number; bytes: number }> {
  const referenced = new Set<string>();
  for (const p of remaining) for (const o of [...p.objects, p.manifest]) referenced.add(o.key);
  let count = 0;
  let bytes = 0;
  for (const prefix of [DATA_PREFIX, CHUNK_PREFIX, MANIFEST_PREFIX]) {
    for await (const o of deps.repo.storage.list(prefix)) {
      if (referenced.has(o.key)) continue;
      throwIfStopped(signal, 'prune', 'leftover objects not yet removed are swept next run');
      count++;
      bytes += o.size;
      if (!dryRun) await deps.repo.storage.delete(o.key);
    }
  }
  return { count, bytes };
}
