/**
 * The rotating read-verify: the monthly restore test proves the newest points, but a monthly
 * point from half a year ago could rot unseen. Each run downloads one slice of the repository's
 * objects (bucketed by a hash of the key, see verify.ts) and checks their SHA-256, decryption and
 * decompression; `backup.readVerifySlices` runs (daily by default: 30 days) read every object
 * once. Each run is recorded in the repository's history, so the next run (on any machine) takes
 * the next slice, and `status` and the Backups page show how far the current pass got.
 */
import { randomBytes } from 'node:crypto';
import type { BackupDeps } from './context.js';
import type { HistoryRecord } from './repo/repository.js';
import { verifyRepository, type VerifyProblem } from './verify.js';
import { throwIfStopped } from '../util/abort.js';

export interface ReadVerifyRecord extends HistoryRecord {
  kind: 'read-verify';
  slice: { index: number; count: number };
  /** Objects downloaded and checked in this slice. */
  objects: number;
  bytesRead: number;
  problems: VerifyProblem[];
  durationMs: number;
  trigger: string;
}

/** Where the current pass stands: the newest run of each slice of the current slice count. */
export interface ReadVerifyCoverage {
  last: ReadVerifyRecord | null;
  count: number;
  /** Slices read (and passed) since each slice's newest run, out of `count`. */
  slicesDone: number;
  /** The oldest of those newest runs: every object was re-read since then, when slicesDone === count. */
  coveredSince: string | null;
  /** Slices whose newest run found problems. */
  failedSlices: number[];
}

/** Runs the next slice and records it. A run that finds damage resolves with ok: false. */
export async function runReadVerify(
  deps: BackupDeps,
  opts: { signal?: AbortSignal; trigger?: string } = {},
): Promise<ReadVerifyRecord> {
  const count = deps.config.backup.readVerifySlices;
  const history = (await deps.repo.listHistory('read-verify')) as ReadVerifyRecord[];
  const prev = history.filter((h) => h.slice?.count === count).at(-1);
  const index = prev ? (prev.slice.index + 1) % count : 0;
  throwIfStopped(opts.signal, 'read-verify', 'nothing was recorded');
  const started = deps.clock.now();
  const r = await verifyRepository(deps, { readData: true, slice: { index, count } });
  throwIfStopped(opts.signal, 'read-verify', 'nothing was recorded');
  const record: ReadVerifyRecord = {
    kind: 'read-verify',
    id: randomBytes(4).toString('hex'),
    time: new Date(started).toISOString(),
    ok: r.ok,
    slice: { index, count },
    objects: r.slice?.objects ?? 0,
    bytesRead: r.bytesRead,
    problems: r.problems.slice(0, 50),
    durationMs: r.durationMs,
    trigger: opts.trigger ?? 'cli',
  };
  await deps.repo.writeHistory(record);
  const line = `read-verify slice ${index + 1}/${count}: ${record.objects} objects, ${record.bytesRead} bytes re-read`;
  if (r.ok) await deps.log.info(`${line}, all intact`, { details: { ...record, problems: [] } });
  else
    await deps.log.error(`${line}: ${r.problems.length} problem(s), e.g. ${r.problems[0]?.message ?? ''}`, {
      details: record,
    });
  return record;
}

/** The coverage of the current pass, from history records (oldest first). */
export function readVerifyCoverage(history: HistoryRecord[], count: number): ReadVerifyCoverage {
  const runs = history.filter((h): h is ReadVerifyRecord => h.kind === 'read-verify');
  const newest = new Map<number, ReadVerifyRecord>();
  for (const r of runs) if (r.slice?.count === count) newest.set(r.slice.index, r);
  const passed = [...newest.values()].filter((r) => r.ok);
  const coveredSince =
    passed.length === 0 ? null : passed.map((r) => r.time).reduce((a, b) => (a < b ? a : b));
  return {
    last: runs.at(-1) ?? null,
    count,
    slicesDone: passed.length,
    coveredSince,
    failedSlices: [...newest.values()].filter((r) => !r.ok).map((r) => r.slice.index),
  };
}
