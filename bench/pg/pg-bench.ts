/**
 * Issue 9 benchmark: a PostgreSQL 15 shop database (random ids, ~400-byte webhook JSON per
 * payment: not pgbench data, which compresses ~20×), safetynet against pgBackRest 2.45 in the same
 * run (zst level 1, AES-256-CBC, process-max=2, start-fast, archive_timeout=60):
 *   1. full/base backup: wall time and stored bytes
 *   2. restore + recovery until the server accepts writes
 *   3. RPO under steady writes (one insert every 100 ms): at a moment T both repositories are copied
 *      as they are; each copy is restored; RPO = T - newest commit present
 *   4. storage requests per hour of safetynet's WAL stream, under writes and idle
 *
 *   npx tsx bench/pg/pg-bench.ts [--mb 1024]
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync, rmSync, cpSync } from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import { createCluster, freePort } from '../../test/backup/postgres/cluster.js';
import { fillShop } from './shop-data.js';
import { runSafetynetJson } from '../lib/safetynet.js';
import { appendResults, printTable, type Comparison } from '../lib/report.js';
import { generateIdentity } from '../../src/backup/crypto/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { depsFactory } from '../../test/helpers/backup-deps.js';
import { WalStreamer } from '../../src/backup/sources/postgres/walstream.js';

const BIN = '/usr/lib/postgresql/15/bin';
const PEER = 'pgBackRest 2.45';
const mb = Number(process.argv[process.argv.indexOf('--mb') + 1] || 1024) || 1024;

const asPg = (cmd: string, args: string[]) =>
  execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
const now = () => Number(process.hrtime.bigint() / 1000000n);
const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

async function waitWritable(port: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
      await c.connect();
      const r = (await c.query('SELECT pg_is_in_recovery() r')).rows[0].r as boolean;
      await c.end();
      if (!r) return;
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become writable');
}

async function newestTick(port: number): Promise<number> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
  await c.connect();
  const at = (await c.query('SELECT max(at) at FROM ticks')).rows[0].at as Date;
  await c.end();
  return at.getTime();
}

async function main(): Promise<void> {
  const work = path.join('/tmp', `safetynet-pg-bench-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o755 });
  const pgbrRepo = path.join(work, 'pgbackrest');
  mkdirSync(pgbrRepo);
  chownSync(
    pgbrRepo,
    Number(execFileSync('id', ['-u', 'postgres']).toString()),
    Number(execFileSync('id', ['-g', 'postgres']).toString()),
  );
  const pgbrConf = path.join(work, 'pgbackrest.conf');
  const cluster = await createCluster({
    conf: `archive_mode = on\narchive_command = 'pgbackrest --config=${pgbrConf} --stanza=shop archive-push %p'\narchive_timeout = 60\nmax_wal_size = 4GB\nmax_slot_wal_keep_size = 10GB\nshared_buffers = 128MB`,
  });
  writeFileSync(
    pgbrConf,
    `[global]\nrepo1-path=${pgbrRepo}\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=bench-pass-0123456789\ncompress-type=zst\ncompress-level=1\nprocess-max=2\nstart-fast=y\nlog-level-console=warn\nlog-path=${work}\nlock-path=${work}\n\n[shop]\npg1-path=${cluster.dataDir}\npg1-port=${cluster.port}\npg1-socket-path=${cluster.root}\n`,
  );
  execFileSync('chmod', ['644', pgbrConf]);
  execFileSync('chmod', ['777', work]);
  const rows: Comparison[] = [];
  const push = rows.push.bind(rows);
  rows.push = (...r: Comparison[]) => (r.forEach((x) => console.log(JSON.stringify(x))), push(...r));
  try {
    const t0 = now();
    await fillShop(cluster, Math.round(mb * 1100));
    const size = Number(
      (await cluster.query<{ s: string }>("SELECT pg_database_size('shop')::text s"))[0]!.s,
    );
    console.log(`data: ${(size / 2 ** 20).toFixed(0)} MiB in ${((now() - t0) / 1000).toFixed(0)} s`);

    // safetynet config
    const { identity, recipient } = generateIdentity();
    const idFile = path.join(work, 'identity.txt');
    writeFileSync(idFile, identity + '\n', { mode: 0o600 });
    const raw = {
      database: {
        type: 'postgres',
        connectionString: cluster.connectionString,
        tables: ['orders', 'payments'],
      },
      backup: {
        recipients: [recipient],
        identity: idFile,
        timezone: 'UTC',
        repository: path.join(work, 'sn-repo'),
      },
    };
    const cfgFile = path.join(work, 'safetynet.config.json');
    writeFileSync(cfgFile, JSON.stringify(raw));

    asPg('pgbackrest', [`--config=${pgbrConf}`, '--stanza=shop', 'stanza-create']);
    // 1. full backups, alternating order: peer, ours, ours, peer
    const peerMs: number[] = [];
    const ourMs: number[] = [];
    const peerFull = () => {
      const s = now();
      asPg('pgbackrest', [`--config=${pgbrConf}`, '--stanza=shop', '--type=full', 'backup']);
      peerMs.push(now() - s);
    };
    let stored = 0;
    const ourFull = () => {
      const r = runSafetynetJson(cfgFile, ['backup', 'db']);
      ourMs.push(r.ms);
      stored = Number(r.json.storedBytes);
    };
    peerFull();
    ourFull();
    const peerStored = du(path.join(pgbrRepo, 'backup')); // both fulls so far: 1
    ourFull();
    peerFull();
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    rows.push({
      metric: 'base backup wall time',
      unit: 'ms',
      ours: med(ourMs),
      peer: med(peerMs),
      peerName: PEER,
      goalRatio: 1,
    });
    rows.push({
      metric: 'stored bytes of one full',
      unit: 'bytes',
      ours: stored,
      peer: peerStored,
      peerName: PEER,
      goalRatio: 1,
    });

    // 2. restore + recovery until writable
    const peerDir = path.join(work, 'peer-restore');
    const ourDir = path.join(work, 'our-restore');
    const peerPort = await freePort();
    const s = now();
    mkdirSync(peerDir, { mode: 0o700 });
    chownSync(
      peerDir,
      Number(execFileSync('id', ['-u', 'postgres']).toString()),
      Number(execFileSync('id', ['-g', 'postgres']).toString()),
    );
    asPg('pgbackrest', [
      `--config=${pgbrConf}`,
      '--stanza=shop',
      `--pg1-path=${peerDir}`,
      '--archive-mode=off',
      '--type=immediate',
      '--target-action=promote',
      'restore',
    ]);
    asPg(`${BIN}/pg_ctl`, [
      '-D',
      peerDir,
      '-l',
      path.join(work, 'peer.log'),
      '-W',
      'start',
      '-o',
      `-p ${peerPort} -c unix_socket_directories=`,
    ]);
    await waitWritable(peerPort);
    const peerRestore = now() - s;
    // The peer's half of a restore test: the same heap + index check on its restored server.
    const a = now();
    asPg(`${BIN}/pg_amcheck`, [
      '-h',
      '127.0.0.1',
      '-p',
      String(peerPort),
      '--install-missing',
      '--heapallindexed',
      '-d',
      'shop',
    ]);
    const peerAmcheck = now() - a;
    asPg(`${BIN}/pg_ctl`, ['-D', peerDir, '-m', 'immediate', 'stop']);
    const ourPort = await freePort();
    const r = runSafetynetJson(cfgFile, [
      'restore',
      'db',
      '--to',
      ourDir,
      '--start',
      '--port',
      String(ourPort),
    ]);
    await waitWritable(ourPort);
    asPg(`${BIN}/pg_ctl`, ['-D', ourDir, '-m', 'immediate', 'stop']);
    rows.push({
      metric: 'restore + recovery until writable',
      unit: 'ms',
      ours: r.ms,
      peer: peerRestore,
      peerName: PEER,
      goalRatio: 1,
    });
    rmSync(peerDir, { recursive: true, force: true });
    rmSync(ourDir, { recursive: true, force: true });

    // 3. the restore test (restore into a scratch server + pg_verifybackup + pg_amcheck + row counts)
    //    against the peer's restore + recovery + the same pg_amcheck (pgBackRest has no restore test).
    const rt = runSafetynetJson(cfgFile, ['restore-test']);
    if (rt.json.ok !== true) throw new Error(`restore test failed: ${JSON.stringify(rt.json.failed)}`);
    rows.push({
      metric: 'restore test (restore + recovery + amcheck [+ verifybackup, counts])',
      unit: 'ms',
      ours: rt.ms,
      peer: peerRestore + peerAmcheck,
      peerName: `${PEER} restore + pg_amcheck`,
    });

    // 3 + 4. RPO under steady writes, requests per hour
    const config = resolveConfig(raw, { file: cfgFile, baseDir: work, env: {} });
    const { makeDeps, closeAll } = depsFactory(config);
    const deps = await makeDeps();
    let puts = 0;
    let deletes = 0;
    const st = deps.repo.storage;
    const put = st.put.bind(st);
    const del = st.delete.bind(st);
    st.put = (k, b, o) => (k.startsWith('wal/') && puts++, put(k, b, o));
    st.delete = (k) => (k.startsWith('wal/') && deletes++, del(k));
    const ac = new AbortController();
    const stream = new WalStreamer(deps, { signal: ac.signal, heartbeat: true }).run();
    const writer = new pg.Client({ connectionString: cluster.connectionString });
    await writer.connect();
    await new Promise((r2) => setTimeout(r2, 5000));
    let writing = true;
    const loop = (async () => {
      while (writing) {
        await writer.query('INSERT INTO ticks DEFAULT VALUES');
        await new Promise((r2) => setTimeout(r2, 100));
      }
    })();
    const putsBefore = puts;
    const delsBefore = deletes;
    const windowMs = 50_000 + Math.floor(Math.random() * 10_000);
    await new Promise((r2) => setTimeout(r2, windowMs));
    const T = Date.now();
    cpSync(path.join(work, 'sn-repo'), path.join(work, 'sn-copy'), { recursive: true });
    execFileSync('cp', ['-a', pgbrRepo, path.join(work, 'pgbr-copy')]);
    const writeReqPerHour = ((puts - putsBefore + deletes - delsBefore) / windowMs) * 3_600_000;
    writing = false;
    await loop;
    await writer.end();
    // idle: only the heartbeat writes
    const idleP = puts;
    const idleD = deletes;
    await new Promise((r2) => setTimeout(r2, 60_000));
    const idleReqPerHour = ((puts - idleP + deletes - idleD) / 60_000) * 3_600_000;
    ac.abort();
    await stream;
    await closeAll();

    const copyCfg = path.join(work, 'copy.config.json');
    writeFileSync(
      copyCfg,
      JSON.stringify({
        ...raw,
        backup: {
          ...raw.backup,
          repository: path.join(work, 'sn-copy'),
          stateDir: path.join(work, 'copy-state'),
        },
      }),
    );
    const p1 = await freePort();
    runSafetynetJson(copyCfg, ['restore', 'db', '--to', ourDir, '--start', '--port', String(p1)]);
    const ourNewest = await newestTick(p1);
    asPg(`${BIN}/pg_ctl`, ['-D', ourDir, '-m', 'immediate', 'stop']);
    const copyConf = path.join(work, 'pgbackrest-copy.conf');
    writeFileSync(
      copyConf,
      execFileSync('sed', [`s#repo1-path=.*#repo1-path=${path.join(work, 'pgbr-copy')}#`, pgbrConf]),
    );
    execFileSync('chmod', ['644', copyConf]);
    mkdirSync(peerDir, { mode: 0o700 });
    chownSync(
      peerDir,
      Number(execFileSync('id', ['-u', 'postgres']).toString()),
      Number(execFileSync('id', ['-g', 'postgres']).toString()),
    );
    asPg('pgbackrest', [
      `--config=${copyConf}`,
      '--stanza=shop',
      `--pg1-path=${peerDir}`,
      '--archive-mode=off',
      'restore',
    ]);
    const p2 = await freePort();
    asPg(`${BIN}/pg_ctl`, [
      '-D',
      peerDir,
      '-l',
      path.join(work, 'peer2.log'),
      '-W',
      'start',
      '-o',
      `-p ${p2} -c unix_socket_directories=`,
    ]);
    await waitWritable(p2);
    const peerNewest = await newestTick(p2);
    asPg(`${BIN}/pg_ctl`, ['-D', peerDir, '-m', 'immediate', 'stop']);
    rows.push({
      metric: 'RPO under steady writes',
      unit: 'ms',
      ours: T - ourNewest,
      peer: T - peerNewest,
      peerName: PEER,
    });
    rows.push({
      metric: 'WAL storage requests/hour, writes',
      unit: 'count',
      ours: Math.round(writeReqPerHour),
      peer: NaN,
      peerName: 'none (reported)',
    });
    rows.push({
      metric: 'WAL storage requests/hour, idle',
      unit: 'count',
      ours: Math.round(idleReqPerHour),
      peer: NaN,
      peerName: 'none (reported)',
    });

    printTable(
      `PostgreSQL ${(size / 2 ** 20).toFixed(0)} MiB shop database: safetynet vs pgBackRest 2.45`,
      rows,
    );
    appendResults('pg', rows, { sizeBytes: size });
  } finally {
    await cluster.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
