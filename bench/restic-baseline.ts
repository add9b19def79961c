/**
 * The peer's figures on our benchmark data, alone: what restic 0.14 does with the shop database and the
 * shop file tree of DESIGN.md §7, step by step as issues 3 and 4 benchmark them. It checks that the data and
 * the harness reproduce DESIGN.md §6 on this machine; the real benchmarks run restic beside safetynet in one run.
 *
 *   npx tsx bench/restic-baseline.ts [--only db|files] [--keep-work]
 *
 * Needs bench/.data/shop.pristine.sqlite and bench/.data/files (see bench/README.md). Works on copies in
 * bench/.data/work/, so the shared data stays pristine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { applyOnePercentChange } from './data/shop-db.js';
import { addImages, treeSize } from './data/shop-files.js';
import {
  initResticRepo,
  resticBackup,
  resticRestore,
  resticStoredBytes,
  resticVersion,
} from './lib/restic.js';
import { appendRecords, formatValue, timed } from './lib/report.js';

const DATA = path.join(import.meta.dirname, '.data');
const WORK = path.join(DATA, 'work');
const PRISTINE_DB = path.join(DATA, 'shop.pristine.sqlite');
const FILES = path.join(DATA, 'files');

interface Step {
  step: string;
  wallMs?: number;
  storedBytes?: number;
  addedBytes?: number;
}

function show(s: Step): void {
  const parts = [s.step.padEnd(34)];
  if (s.wallMs !== undefined) parts.push(formatValue(s.wallMs, 'ms').padStart(9));
  if (s.storedBytes !== undefined) parts.push(`stored ${formatValue(s.storedBytes, 'bytes')}`);
  if (s.addedBytes !== undefined) parts.push(`added ${formatValue(s.addedBytes, 'bytes')}`);
  console.log(parts.join('  '));
}

/** Copies with cp (page cache warm afterwards, as it would be for a live shop) and syncs. */
function copy(from: string, to: string): number {
  const started = process.hrtime.bigint();
  execFileSync('cp', ['-a', from, to]);
  execFileSync('sync');
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function databaseSteps(peer: string): Promise<Step[]> {
  const db = path.join(WORK, 'shop.sqlite');
  const steps: Step[] = [{ step: 'db: cp -a + sync (raw limit)', wallMs: copy(PRISTINE_DB, db) }];
  const repo = await initResticRepo(path.join(WORK, 'restic-db'));
  const full = await resticBackup(repo, db);
  const afterFull = resticStoredBytes(repo);
  steps.push({ step: 'db: full backup', wallMs: full.wallMs, storedBytes: afterFull });
  const change = await timed(() => applyOnePercentChange(db, { seed: 2, scale: 1 }));
  steps.push({ step: 'db: apply 1% change (not restic)', wallMs: change.ms });
  const second = await resticBackup(repo, db);
  const afterSecond = resticStoredBytes(repo);
  steps.push({
    step: 'db: backup after 1% change',
    wallMs: second.wallMs,
    addedBytes: afterSecond - afterFull,
  });
  const restore = await resticRestore(repo, path.join(WORK, 'restore-db'));
  steps.push({ step: 'db: restore latest', wallMs: restore.wallMs });
  steps.forEach(show);
  appendRecords(
    'restic-baseline',
    steps.map((s) => ({ peer, ...s })),
  );
  return steps;
}

async function fileSteps(peer: string): Promise<Step[]> {
  const tree = path.join(WORK, 'files');
  const size = treeSize(FILES);
  const steps: Step[] = [
    { step: `files: cp -a + sync (${size.files} files)`, wallMs: copy(FILES, tree), storedBytes: size.bytes },
  ];
  const repo = await initResticRepo(path.join(WORK, 'restic-files'));
  const first = await resticBackup(repo, tree);
  const afterFirst = resticStoredBytes(repo);
  steps.push({ step: 'files: first backup', wallMs: first.wallMs, storedBytes: afterFirst });
  const unchanged = await resticBackup(repo, tree);
  const afterUnchanged = resticStoredBytes(repo);
  steps.push({
    step: 'files: nothing changed',
    wallMs: unchanged.wallMs,
    addedBytes: afterUnchanged - afterFirst,
  });
  addImages(tree, 100, 7);
  const added = await resticBackup(repo, tree);
  steps.push({
    step: 'files: 100 images added',
    wallMs: added.wallMs,
    addedBytes: resticStoredBytes(repo) - afterUnchanged,
  });
  const restore = await resticRestore(repo, path.join(WORK, 'restore-files'));
  steps.push({ step: 'files: restore latest', wallMs: restore.wallMs });
  steps.forEach(show);
  appendRecords(
    'restic-baseline',
    steps.map((s) => ({ peer, ...s })),
  );
  return steps;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, 'keep-work': { type: 'boolean' } } });
  for (const [need, what] of [
    [
      PRISTINE_DB,
      'npx tsx bench/data/shop-db.ts --out bench/.data/shop.sqlite --pristine bench/.data/shop.pristine.sqlite',
    ],
    [FILES, 'npx tsx bench/data/shop-files.ts --out bench/.data/files'],
  ] as const) {
    if (!existsSync(need)) throw new Error(`missing ${need}; build it with: ${what}`);
  }
  const peer = `restic ${await resticVersion()}`;
  console.log(`${peer} on the benchmark data (work copies in ${WORK})`);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  try {
    if (values.only !== 'files') await databaseSteps(peer);
    if (values.only !== 'db') await fileSteps(peer);
  } finally {
    if (!values['keep-work']) rmSync(WORK, { recursive: true, force: true });
  }
}

await main();
