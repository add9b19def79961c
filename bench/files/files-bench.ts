/**
 * File backups against restic on the same tree in the same run (issue 4):
 *   1. first backup of the 13,003-file shop tree, 2. second backup with nothing changed,
 *   3. third backup after adding 100 images, 4. full restore of the latest point.
 * Reports wall times, stored bytes and ratios ours / restic. safetynet runs as the built CLI
 * (`npm run build` first) in a child process, as restic does.
 *
 *   npx tsx bench/files/files-bench.ts [--rounds 3] [--src bench/.data/files] [--keep-work] [--cache cold|warm]
 *
 * Each round works on a fresh copy (`cp -a`) in bench/.data/work/files-bench/, never on the shared
 * tree, with fresh repositories. The machine is shared and noisy, and whichever tool runs a step
 * first was seen to be up to 1.5x slower or faster, so rounds alternate the order (restic first in
 * odd rounds, ours first in even ones) and the table shows the median of each figure over the
 * rounds; every round's figures go to bench/results/files-backup.jsonl. Before each timed step
 * `sync` flushes the previous step's writes and the page cache is emptied (see settle), and each
 * copy is read once before the first step.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from '../../src/backup/crypto/index.js';
import type { FilesBackupStats } from '../../src/backup/sources/files/backup.js';
import type { RestoreFilesResult } from '../../src/backup/sources/files/restore.js';
import { runSafetynetJson } from '../lib/safetynet.js';
import { cacheMode, describeCache, settle as settleCache } from '../lib/page-cache.js';
import { addImages, treeSize } from '../data/shop-files.js';
import {
  folderBytes,
  initResticRepo,
  type ChildCpu,
  resticBackup,
  resticRestore,
  resticStoredBytes,
  resticVersion,
} from '../lib/restic.js';
import { appendResults, printTable, timed, type Comparison } from '../lib/report.js';
import { between, createProbe, describe, sample, type Conditions } from './conditions.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    src: { type: 'string', default: path.join(here, '..', '.data', 'files') },
    rounds: { type: 'string', default: '3' },
    'keep-work': { type: 'boolean', default: false },
    cache: { type: 'string', default: 'cold' },
  },
});
// The tree is a symlink to shared data in worktrees: copy what it points to, not the link (restic
// would back up the link itself).
const src = existsSync(values.src!) ? realpathSync(values.src!) : path.resolve(values.src!);
if (!existsSync(src))
  throw new Error(`no benchmark tree at ${src}; build it: npx tsx bench/data/shop-files.ts --out ${src}`);
const rounds = Math.max(1, Number(values.rounds));
const workRoot = path.join(here, '..', '.data', 'work', 'files-bench');
const peerName = `restic ${await resticVersion()}`;

/** See bench/lib/page-cache.ts: `--cache cold` (default) empties the page cache before each step. */
const mode = cacheMode(values.cache);
const settle = () => settleCache(mode);

interface Round {
  order: 'restic-first' | 'ours-first';
  rows: Comparison[];
  ours: FilesBackupStats[];
  /** Machine conditions during each timed step, by step name and tool. */
  conditions: Record<string, { ours: Conditions; restic: Conditions }>;
}

async function runRound(n: number): Promise<Round> {
  const order = n % 2 === 1 ? 'restic-first' : 'ours-first';
  const work = path.join(workRoot, `round-${n}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tree = path.join(work, 'tree');
  execFileSync('cp', ['-a', src, tree]);
  // Read the copy once and flush it: neither tool pays for its writeback or first-read atime updates.
  execFileSync('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 cat > /dev/null; sync', 'sh', tree]);

  const { identity, recipient } = generateIdentity();
  writeFileSync(path.join(work, 'identity.txt'), `${identity}\n`, { mode: 0o600 });
  const raw = {
    logs: { store: { path: path.join(work, 'logs.sqlite') } },
    backup: {
      repository: path.join(work, 'ours-repo'),
      stateDir: path.join(work, 'ours-state'),
      recipients: [recipient],
      identity: path.join(work, 'identity.txt'),
      timezone: 'UTC',
      files: ['images', 'invoices', 'config'].map((name) => ({ name, path: path.join(tree, name) })),
    },
  };
  // safetynet runs as a user runs it: the built CLI in a child process, as restic does (start-up
  // counted on both sides). Until 2026-12-08 ours ran in this process, after this round's backups
  // and through tsx, which made its restore 0.1-0.3 s slower than the CLI's.
  const configFile = path.join(work, 'safetynet.config.json');
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  const ours = (args: string[]) => async () => runSafetynetJson(configFile, args);
  const restic = await initResticRepo(path.join(work, 'restic-repo'));

  const conditions: Round['conditions'] = {};
  // CPU time of each tool's process (every thread) and its minor faults: cpu / wall below ~2 on 2
  // cores means it waited, for the disk or for cores other work held.
  const watched = async <T>(fn: () => Promise<T>) => {
    const createUs = createProbe(work);
    const a = sample();
    const r = await timed(fn);
    const child = (r.result as { cpu?: ChildCpu } | undefined)?.cpu;
    const used = child
      ? { cpuMs: Math.round(child.userMs + child.sysMs), minorFaults: child.minorFaults }
      : {};
    return { ...r, conditions: { ...between(a, sample()), ...used, createUs } };
  };
  const both = async <A, B>(step: string, ours: () => Promise<A>, theirs: () => Promise<B>) => {
    settle();
    let o: { ms: number; result: A; conditions: Conditions };
    let t: { ms: number; result: B; conditions: Conditions };
    if (order === 'ours-first') {
      o = await watched(ours);
      settle();
      t = await watched(theirs);
    } else {
      t = await watched(theirs);
      settle();
      o = await watched(ours);
    }
    conditions[step] = { ours: o.conditions, restic: t.conditions };
    return [o, t] as const;
  };
  const rows: Comparison[] = [];
  const row = (metric: string, unit: Comparison['unit'], ours: number, peer: number, goalRatio?: number) =>
    rows.push({ metric, unit, ours, peer, peerName, ...(goalRatio !== undefined ? { goalRatio } : {}) });
  const oursBytes = () => folderBytes(path.join(work, 'ours-repo'));

  const [o1, t1] = await both('first backup', ours(['backup', 'files']), () => resticBackup(restic, tree));
  const ours1 = oursBytes();
  const theirs1 = resticStoredBytes(restic);
  row('first backup', 'ms', o1.ms, t1.ms, 1);
  row('stored after first', 'bytes', ours1, theirs1, 1);

  const [o2, t2] = await both('second backup', ours(['backup', 'files']), () => resticBackup(restic, tree));
  const ours2 = oursBytes();
  const theirs2 = resticStoredBytes(restic);
  row('second backup, nothing changed', 'ms', o2.ms, t2.ms, 1);
  row('bytes added by second', 'bytes', ours2 - ours1, theirs2 - theirs1);

  addImages(tree, 100, 7);
  const [o3, t3] = await both('third backup', ours(['backup', 'files']), () => resticBackup(restic, tree));
  const ours3 = oursBytes();
  const theirs3 = resticStoredBytes(restic);
  row('third backup, 100 images added', 'ms', o3.ms, t3.ms, 1);
  row('bytes added by third', 'bytes', ours3 - ours2, theirs3 - theirs2);
  row('stored after three backups', 'bytes', ours3, theirs3, 1);

  const [o4, t4] = await both(
    'full restore',
    ours(['restore', 'files', '--to', path.join(work, 'ours-restore')]),
    () => resticRestore(restic, path.join(work, 'restic-restore')),
  );
  row('full restore', 'ms', o4.ms, t4.ms, 1);
  const restored = o4.result.json as unknown as RestoreFilesResult;
  if (restored.failures.length || restored.verified !== restored.files) {
    throw new Error(`restore failed: ${JSON.stringify(restored.failures.slice(0, 5))}`);
  }
  // The round's folders stay until every round is done: deleting 40,000 files here would make
  // the next round's file creation slower (see createProbe), which is not what we measure.
  const oursStats = [o1, o2, o3].map((o) => (o.result.json as { stats: FilesBackupStats }).stats);
  appendResults('files-backup', rows, {
    round: n,
    order,
    cache: mode,
    files: treeSize(src).files,
    ours: oursStats,
    restic: [t1, t2, t3].map((t) => t.result),
    restorePhases: restored.phases,
    conditions,
  });
  printTable(`round ${n} (${order})`, rows);
  const cpuText = (c: Conditions) =>
    c.cpuMs === undefined
      ? 'CPU not measured'
      : `CPU ${(c.cpuMs / 1000).toFixed(1)} s, ${Math.round((c.minorFaults ?? 0) / 1000)}k faults`;
  console.log(`  full restore, our phases (ms): ${JSON.stringify(restored.phases)}`);
  for (const [step, c] of Object.entries(conditions))
    console.log(
      `  ${step}: ours [${cpuText(c.ours)}; ${describe(c.ours)}]; restic [${cpuText(c.restic)}; ${describe(c.restic)}]`,
    );
  return { order, rows, ours: oursStats, conditions };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const size = treeSize(src);
if (existsSync(workRoot)) {
  // Left by an interrupted run: removing it frees tens of thousands of inodes, which would slow the
  // first round's file creation for a minute (see createProbe), so wait that out.
  rmSync(workRoot, { recursive: true, force: true });
  execFileSync('sync');
  console.log('removed an old work folder; waiting 65 s for its inodes to stop counting as recently deleted');
  await new Promise((r) => setTimeout(r, 65_000));
}
const results: Round[] = [];
for (let n = 1; n <= rounds; n++) results.push(await runRound(n));
const summary: Comparison[] = results[0]!.rows.map((r, i) => ({
  ...r,
  ours: median(results.map((x) => x.rows[i]!.ours)),
  peer: median(results.map((x) => x.rows[i]!.peer)),
}));
printTable(
  `${size.files.toLocaleString('en-US')}-file shop tree, ${(size.bytes / 1e6).toFixed(1)} MB: median of ${rounds} round(s), order alternating, ${describeCache(mode)}`,
  summary,
);
// What varies between runs: the spread of each timed figure over the rounds, beside the machine's
// conditions in those rounds (the load other work puts on the 2 cores, writeback in progress).
for (const [i, r] of results[0]!.rows.entries()) {
  if (r.unit !== 'ms') continue;
  const o = results.map((x) => x.rows[i]!.ours / 1000);
  const t = results.map((x) => x.rows[i]!.peer / 1000);
  const ratios = results.map((x) => x.rows[i]!.ours / x.rows[i]!.peer);
  console.log(
    `${r.metric}: ours ${Math.min(...o).toFixed(2)}–${Math.max(...o).toFixed(2)} s, restic ${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)} s, ratio ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`,
  );
}
for (const r of results) {
  console.log(
    `${r.order}: ${r.rows
      .filter((x) => x.unit === 'ms')
      .map((x) => `${x.metric.split(',')[0]} ${(x.ours / 1000).toFixed(2)}/${(x.peer / 1000).toFixed(2)} s`)
      .join('; ')}`,
  );
}
appendResults('files-backup', summary, { summary: true, rounds, files: size.files, bytes: size.bytes });
if (!values['keep-work']) rmSync(workRoot, { recursive: true, force: true });
