/**
 * The WAL chain as verify and prune see it. Verify: from each base backup's start segment on,
 * every segment up to the newest one is stored (the newest may be open); the first missing one is
 * named with the restore times it breaks. Prune: keeps every segment from the base that anchors
 * the point-in-time window on, and for older kept bases the segments that make each consistent.
 */
import type { BackupDeps } from '../../context.js';
import type { CatalogEntry } from '../../repo/types.js';
import type { LogProblem, LogRetention } from '../types.js';
import { listWal } from './walstream.js';
import { parseSegmentName, segmentName, type WalListing } from './wal.js';
import { walPlan } from './restore.js';
import { mapLimit } from '../../repo/repository.js';

interface BaseFacts {
  id: string;
  timeline: number;
  segSize: number;
  startWal: string;
  stopWal: string;
  consistentAt: number;
}

function baseFacts(p: CatalogEntry): BaseFacts | undefined {
  const s = p.summary;
  if (!s || s.engine !== 'postgres') return undefined;
  return {
    id: p.id,
    timeline: Number(s.timeline),
    segSize: Number(s.segSize),
    startWal: String(s.startWal),
    stopWal: String(s.stopWal),
    consistentAt: Date.parse(String(s.consistentAt)),
  };
}

function seg(name: string, segSize: number): bigint {
  return parseSegmentName(name, segSize)!.segNo;
}

/** Problems in the WAL chain of each base point (and, with readData, unreadable WAL objects). */
export async function verifyWal(
  deps: BackupDeps,
  points: CatalogEntry[],
  readData: boolean,
): Promise<LogProblem[]> {
  const listing = await listWal(deps);
  const bases = points.map(baseFacts).filter((b): b is BaseFacts => b !== undefined);
  const problems = new Map<string, LogProblem>();
  for (const b of bases) {
    const plan = walPlan(listing, b);
    if (!plan.gap) continue;
    const gapSeg = seg(plan.gap, b.segSize);
    if (gapSeg <= seg(b.stopWal, b.segSize)) {
      problems.set(`${plan.gap}:${b.id}`, {
        key: `wal/${plan.gap}.age`,
        kind: 'missing',
        message: `WAL segment ${plan.gap} is missing: base backup ${b.id} cannot be made consistent`,
        points: [b.id],
      });
      continue;
    }
    const existing = problems.get(plan.gap);
    if (existing) {
      existing.points.push(b.id);
      continue;
    }
    const before = plan.names[plan.names.length - 1];
    const lastTime = before ? timeOf(listing, before) : null;
    const next = bases.find((x) => x.timeline === b.timeline && seg(x.startWal, x.segSize) > gapSeg);
    problems.set(plan.gap, {
      key: `wal/${plan.gap}.age`,
      kind: 'chain',
      message: `WAL segment ${plan.gap} is missing: restores to times after ${lastTime ?? 'the end of segment ' + before} ${next ? `and before base backup ${next.id} (${new Date(next.consistentAt).toISOString()})` : 'up to now'} are impossible`,
      points: [b.id],
    });
  }
  const out = [...problems.values()];
  if (readData) {
    const pool = await deps.repo.openPool();
    const keys = [
      ...[...listing.segments.values()].map((o) => o.key),
      ...[...listing.pieces.values()].flat().map((p) => p.info.key),
      ...listing.histories.map((h) => h.key),
    ];
    await mapLimit(keys, 4, async (key) => {
      try {
        await pool.open(await deps.repo.storage.get(key), { name: key, transfer: true });
      } catch (err) {
        out.push({
          key,
          kind: 'unreadable',
          message: `WAL object ${key} cannot be decrypted or decompressed: ${(err as Error).message}`,
          points: [],
        });
      }
    });
  }
  return out;
}

function timeOf(listing: WalListing, name: string): string | null {
  const o = listing.segments.get(name) ?? listing.pieces.get(name)?.at(-1)?.info;
  return o?.lastModified ? new Date(o.lastModified).toISOString() : null;
}

/** Which WAL objects prune removes, and why the rest is kept. */
export async function retainWal(deps: BackupDeps, kept: CatalogEntry[], now: number): Promise<LogRetention> {
  const listing = await listWal(deps);
  const bases = kept.map(baseFacts).filter((b): b is BaseFacts => b !== undefined);
  const all = [
    ...[...listing.segments].map(([name, info]) => ({ name, key: info.key, size: info.size })),
    ...[...listing.pieces].flatMap(([name, ps]) =>
      ps.map((p) => ({ name, key: p.info.key, size: p.info.size })),
    ),
  ];
  if (bases.length === 0) {
    return {
      remove: [],
      explain: ['no base backup is kept: all WAL is kept (it may belong to a base backup still to come)'],
      keptObjects: all.length + listing.histories.length,
    };
  }
  const days = deps.config.backup.retention.pointInTimeDays;
  const windowStart = now - days * 86_400_000;
  const anchor = [...bases].reverse().find((b) => b.consistentAt <= windowStart) ?? bases[0]!;
  const segSize = anchor.segSize;
  const fromSeg = seg(anchor.startWal, segSize);
  const ranges = bases
    .filter((b) => seg(b.startWal, segSize) < fromSeg)
    .map((b) => ({ b, from: seg(b.startWal, segSize), to: seg(b.stopWal, segSize) }));
  const explain = [
    `keep WAL from ${anchor.startWal} on: any time in the point-in-time window (${days} days, since ${new Date(windowStart).toISOString()}) restores from base ${anchor.id}`,
    ...ranges.map(
      (r) => `keep ${r.b.startWal}..${r.b.stopWal}: makes the older kept base ${r.b.id} consistent`,
    ),
  ];
  const remove: { key: string; size: number }[] = [];
  for (const o of all) {
    const s = parseSegmentName(o.name, segSize);
    if (!s) continue;
    const needed = s.segNo >= fromSeg || ranges.some((r) => s.segNo >= r.from && s.segNo <= r.to);
    if (!needed) remove.push({ key: o.key, size: o.size });
  }
  if (remove.length)
    explain.push(
      `remove ${remove.length} WAL objects no kept base or the window needs (older than ${segmentName(anchor.timeline, fromSeg, segSize)})`,
    );
  return { remove, explain, keptObjects: all.length - remove.length + listing.histories.length };
}
