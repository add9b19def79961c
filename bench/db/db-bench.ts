/**
 * Issue 3 benchmark: the ~1 GiB shop database of DESIGN.md §7, safetynet against restic in the
 * same run, on the same copy of the data:
 *   1. full backup (wall time, stored bytes)
 *   2. the "1% changed" workload, then an incremental (wall time, bytes added)
 *   3. restore of the newest point (wall time; three rounds alternating who goes first, medians)
 * safetynet runs as the real CLI in a child process (as restic does), with a local repository.
 *
 *   npx tsx bench/db/db-bench.ts [--keep-work]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOnePercentChange, FULL_SCALE } from '../data/shop-db.js';
import {
  initResticRepo,
  resticBackup,
  resticRestore,
  resticStoredBytes,
  resticVersion,
  folderBytes,
} from '../lib/restic.js';
import { runSafetynetJson } from '../lib/safetynet.js';
import { appendResults, printTable, type Comparison } from '../lib/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const data = path.join(root, 'bench', '.data');
const pristine = path.join(data, 'shop.pristine.sqlite');
const work = path.join(data, 'work-db');

function ours(args: string[]): { ms: number; json: Record<string, unknown> } {
  return runSafetynetJson(path.join(work, 'safetynet.config.json'), args);
}

async function main(): Promise<void> {
  if (!existsSync(pristine))
    throw new Error(
      `build the data first: npx tsx bench/data/shop-db.ts --out bench/.data/shop.sqlite --pristine ${pristine}`,
    );
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const db = path.join(work, 'shop.sqlite');
  copyFileSync(pristine, db);
  execFileSync('age-keygen', ['-o', path.join(work, 'key.txt')], { stdio: 'pipe' });
  const recipient = execFileSync('age-keygen', ['-y', path.join(work, 'key.txt')])
    .toString()
    .trim();
  writeFileSync(
    path.join(work, 'safetynet.config.json'),
    JSON.stringify({
      database: { path: 'shop.sqlite' },
      logs: { store: { path: 'logs.sqlite' }, spool: 'spool' },
      backup: {
        repository: 'repo',
        stateDir: 'state',
        recipients: [recipient],
        identity: 'key.txt',
        timezone: 'UTC',
      },
    }),
  );
  const peerName = `restic ${await resticVersion()}`;
  const restic = await initResticRepo(path.join(work, 'restic'));
  const dbBytes = statSync(db).size;
  const drop = () => spawnSync('sync');

  drop();
  const rFull = await resticBackup(restic, db);
  const rFullBytes = resticStoredBytes(restic);
  drop();
  const oFull = ours(['backup', 'db', '--full']);
  const oFullBytes = folderBytes(path.join(work, 'repo'));

  const change = applyOnePercentChange(db, { seed: 2, scale: 1 });
  drop();
  const rInc = await resticBackup(restic, db);
  const rIncBytes = resticStoredBytes(restic) - rFullBytes;
  drop();
  const oInc = ours(['backup', 'db', '--incremental']);
  const oIncBytes = folderBytes(path.join(work, 'repo')) - oFullBytes;

  // Restores: three rounds, alternating who goes first (the machine's writeback makes the second
  // writer of a gigabyte pay for the first); medians are reported.
  const rTimes: number[] = [];
  const oTimes: number[] = [];
  let oRestore = { ms: 0, json: {} as Record<string, unknown> };
  for (let round = 0; round < 3; round++) {
    const runRestic = async () => {
      rmSync(path.join(work, 'restic-out'), { recursive: true, force: true });
      drop();
      rTimes.push((await resticRestore(restic, path.join(work, 'restic-out'))).wallMs);
    };
    const runOurs = () => {
      rmSync(path.join(work, 'ours-out'), { recursive: true, force: true });
      drop();
      oRestore = ours(['restore', 'db', '--to', path.join(work, 'ours-out', 'shop.sqlite')]);
      oTimes.push(oRestore.ms);
    };
    if (round % 2 === 0) {
      await runRestic();
      runOurs();
    } else {
      runOurs();
      await runRestic();
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rRestore = { wallMs: median(rTimes) };

  const rows: Comparison[] = [
    { metric: 'full backup, wall', unit: 'ms', ours: oFull.ms, peer: rFull.wallMs, peerName, goalRatio: 1 },
    { metric: 'full backup, stored', unit: 'bytes', ours: oFullBytes, peer: rFullBytes, peerName },
    { metric: 'after 1% change, wall', unit: 'ms', ours: oInc.ms, peer: rInc.wallMs, peerName },
    {
      metric: 'after 1% change, bytes added',
      unit: 'bytes',
      ours: oIncBytes,
      peer: rIncBytes,
      peerName,
      goalRatio: 0.1,
    },
    {
      metric: 'restore newest (median of 3), wall',
      unit: 'ms',
      ours: median(oTimes),
      peer: rRestore.wallMs,
      peerName,
      goalRatio: 1,
    },
  ];
  printTable(
    `shop database ${(dbBytes / 2 ** 30).toFixed(2)} GiB (${FULL_SCALE.orders.toLocaleString('en-US')} orders)`,
    rows,
  );
  console.log(
    'safetynet full:',
    JSON.stringify({
      snapshot: oFull.json.snapshotMethod,
      heldMs: oFull.json.snapshotHeldMs,
      durationMs: oFull.json.durationMs,
    }),
  );
  console.log(
    'safetynet incremental:',
    JSON.stringify({
      changedPages: oInc.json.changedPages,
      pageCount: oInc.json.pageCount,
      heldMs: oInc.json.snapshotHeldMs,
    }),
  );
  console.log('safetynet restore phases (last round):', JSON.stringify(oRestore.json.phases));
  console.log(
    'restore rounds, ours:',
    oTimes.map((t) => Math.round(t)).join(' '),
    'ms; restic:',
    rTimes.map((t) => Math.round(t)).join(' '),
    'ms',
  );
  console.log('1% change applied:', JSON.stringify(change));
  appendResults('db-backup', rows, {
    dbBytes,
    restorePhases: oRestore.json.phases,
    changedPages: oInc.json.changedPages,
  });
  if (!process.argv.includes('--keep-work')) rmSync(work, { recursive: true, force: true });
}

await main();
