/**
 * Issue 9 benchmark: a PostgreSQL 15 shop database (random ids, ~400-byte webhook JSON per
 * payment: not pgbench data, which compresses ~20×), safetynet against pgBackRest 2.45 in the same
 * run (zst level 1, AES-256-CBC, process-max=2, start-fast, archive_timeout=60), in the steady
 * state a shop runs in: our WAL stream (as `serve` runs it) and pgBackRest's archive_command are
 * running and caught up before anything is measured.
 *   1. base backup, `--rounds` rounds alternating who goes first: wall, CPU of the tool, CPU the
 *      database server spent meanwhile, stored bytes
 *   2. restore + recovery to a point in time T until the server accepts writes (both restored
 *      servers are polled the same way, every 20 ms), rounds alternating; both must hold exactly
 *      the rows committed up to T
 *   3. `safetynet restore-test` against the peer's restore + start + the same pg_amcheck
 *   4. RPO under steady writes (one insert every 100 ms): at three random moments T both
 *      repositories are copied as they are; each copy is restored; RPO = T - newest commit present
 *   5. storage requests per hour of our WAL stream, under writes and idle
 *
 * `--data pgbench` runs the same on `pgbench -i` data instead (the issue's second case): it
 * compresses ~20x, so it shows the tools' own costs rather than zstd's.
 *
 *   npx tsx bench/pg/pg-bench.ts [--data shop|pgbench] [--mb 1024] [--rounds 3] [--idle-seconds 300]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import { createCluster, freePort, type TestCluster } from '../../test/backup/postgres/cluster.js';
import { SAFETYNET_CLI } from '../lib/safetynet.js';
import { appendResults, printTable, type Comparison } from '../lib/report.js';
import { generateIdentity } from '../../src/backup/crypto/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { depsFactory } from '../../test/helpers/backup-deps.js';
import { WalStreamer, listWal } from '../../src/backup/sources/postgres/walstream.js';
import { recoveryLogPhases } from '../../src/backup/sources/postgres/recovery-log.js';
import type { BackupDeps } from '../../src/backup/context.js';
import { fillShop } from './shop-data.js';
import { BIN, PEER, asPostgres, pgBackRest, postgresDir, type Peer } from './peer.js';
import { measure, median, postmasterPid, untilWritable, type Measured } from './measure.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || dflt : dflt;
};
const mb = arg('--mb', 1024);
const data = process.argv.includes('--data') ? process.argv[process.argv.indexOf('--data') + 1] : 'shop';
if (data !== 'shop' && data !== 'pgbench') throw new Error(`--data: "${data}" is not shop or pgbench`);
const rounds = arg('--rounds', 3);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
const phasesOf = (j: Record<string, unknown>, keys: string[]) =>
  keys
    .filter((k) => typeof j[k] === 'number')
    .map((k) => `${k.replace(/Ms$/, '')} ${s(j[k] as number)}`)
    .join(', ');

/** Waits until both archives hold the segment completed now. */
async function catchUp(cluster: TestCluster, deps: BackupDeps, timeoutMs = 900_000): Promise<void> {
  const seg = (await cluster.query<{ w: string }>('SELECT pg_walfile_name(pg_switch_wal()) w'))[0]!.w;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const archived = (
      await cluster.query<{ w: string | null }>('SELECT last_archived_wal w FROM pg_stat_archiver')
    )[0]!.w;
    // The stream may have started after that segment (its slot was made after the fill).
    const ours = [...(await listWal(deps)).segments.keys()].some((k) => k >= seg);
    if (ours && archived !== null && archived >= seg) return;
    await sleep(1000);
  }
  throw new Error(`the archives did not catch up to ${seg}`);
}

/** pgbench's tables at the scale that makes about `mb` MiB (~15 MiB per unit), and `ticks`. */
async function fillPgbench(cluster: TestCluster, mb: number): Promise<void> {
  const scale = Math.max(1, Math.round(mb / 15));
  execFileSync(
    path.join(BIN, 'pgbench'),
    [
      '-i',
      '-q',
      '-s',
      String(scale),
      '-h',
      '127.0.0.1',
      '-p',
      String(cluster.port),
      '-U',
      'postgres',
      'shop',
    ],
    { stdio: 'ignore' },
  );
  await cluster.query(
    'CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())',
  );
}

/** Bytes of every file below `dir`. */
function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

async function newestTick(port: number): Promise<number> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
  await c.connect();
  const at = (await c.query('SELECT max(at) at FROM ticks')).rows[0].at as Date;
  await c.end();
  return at.getTime();
}

async function countTicks(port: number): Promise<number> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
  await c.connect();
  const n = Number((await c.query('SELECT count(*) n FROM ticks')).rows[0].n);
  await c.end();
  return n;
}

function stopServer(dir: string): void {
  try {
    asPostgres(`${BIN}/pg_ctl`, ['-D', dir, '-m', 'immediate', 'stop']);
  } catch {
    // not running
  }
}

/** The peer's restore to `target` and a start, as one timed script (timestamps between steps). */
function peerRestoreScript(peer: Peer, dir: string, port: number, log: string, target: string[]): string[] {
  const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const restore = [
    'pgbackrest',
    ...peer.args('restore', [`--pg1-path=${dir}`, '--archive-mode=off', ...target]),
  ];
  const start = [
    `${BIN}/pg_ctl`,
    '-D',
    dir,
    '-l',
    log,
    '-W',
    'start',
    '-o',
    `-p ${port} -c unix_socket_directories=`,
  ];
  const script = `date +%s%N; ${restore.map(q).join(' ')} && date +%s%N && ${start.map(q).join(' ')} >/dev/null`;
  return ['-u', 'postgres', '--', 'sh', '-c', script];
}

async function main(): Promise<void> {
  const work = path.join('/tmp', `safetynet-pg-bench-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o777);
  const peer = pgBackRest(work);
  const cluster = await createCluster({
    // fsync = on, as a shop runs (test clusters turn it off): restored servers inherit it, so
    // both tools' restores end with durable files (pgBackRest syncs each file; so do we).
    conf: `fsync = on\narchive_mode = on\narchive_command = '${peer.archiveCommand}'\narchive_timeout = 60\nmax_wal_size = 4GB\nmax_slot_wal_keep_size = 10GB\nshared_buffers = 128MB`,
  });
  peer.configure({ dataDir: cluster.dataDir, port: cluster.port, socketDir: cluster.root });
  const rows: Comparison[] = [];
  const notes: string[] = [];
  const note = (line: string) => {
    notes.push(line);
    console.log(line);
  };
  const ac = new AbortController();
  let stream: Promise<void> | undefined;
  let closeAll: (() => Promise<void>) | undefined;
  try {
    const t0 = Date.now();
    if (data === 'shop') await fillShop(cluster, Math.round(mb * 1100));
    else await fillPgbench(cluster, mb);
    const size = Number(
      (await cluster.query<{ s: string }>("SELECT pg_database_size('shop')::text s"))[0]!.s,
    );
    note(`data: ${(size / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const { identity, recipient } = generateIdentity();
    const idFile = path.join(work, 'identity.txt');
    writeFileSync(idFile, identity + '\n', { mode: 0o600 });
    const raw = {
      database: {
        type: 'postgres',
        // Both tools run on the database host and talk to it through its Unix socket (pgBackRest:
        // pg1-socket-path), which costs the server a quarter less CPU than TCP loopback.
        connectionString: `postgres://postgres@/shop?host=${encodeURIComponent(cluster.root)}&port=${cluster.port}`,
        tables: data === 'shop' ? ['orders', 'payments'] : ['pgbench_accounts', 'pgbench_history'],
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
    const cli = (args: string[]) => [SAFETYNET_CLI, '--config', cfgFile, ...args, '--json'];
    asPostgres('pgbackrest', peer.args('stanza-create'));

    // The steady state: our stream in this process (as serve runs it; its requests are counted),
    // pgBackRest's archive_command in the server; both caught up with the fill's WAL.
    const config = resolveConfig(raw, { file: cfgFile, baseDir: work, env: {} });
    const factory = depsFactory(config);
    closeAll = factory.closeAll;
    const deps = await factory.makeDeps();
    const requests = { put: 0, delete: 0, list: 0 };
    const st = deps.repo.storage;
    const put = st.put.bind(st);
    const del = st.delete.bind(st);
    const list = st.list.bind(st);
    st.put = (k, b, o) => (k.startsWith('wal/') && requests.put++, put(k, b, o));
    st.delete = (k, o) => (k.startsWith('wal/') && requests.delete++, del(k, o));
    st.list = (p) => (p.startsWith('wal/') && requests.list++, list(p));
    stream = new WalStreamer(deps, { signal: ac.signal, heartbeat: true }).run();
    const tc = Date.now();
    await catchUp(cluster, deps);
    note(`both archives caught up with the fill's WAL in ${((Date.now() - tc) / 1000).toFixed(0)} s`);
    const serverPid = postmasterPid(cluster.dataDir);
    const line = (who: string, m: Measured, extra = '') =>
      note(
        `  ${who.padEnd(4)} wall ${s(m.wallMs)}  cpu ${s(m.cpuMs)}  server cpu ${s(m.serverCpuMs)}  load ${m.load1}${extra ? `  ${extra}` : ''}`,
      );

    // 1. Base backups.
    note(`\nbase backup, ${rounds} rounds alternating who goes first:`);
    const bk = { ours: [] as Measured[], peer: [] as Measured[] };
    let storedOurs = 0;
    for (let r = 0; r < rounds; r++) {
      for (const who of r % 2 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const)) {
        if (who === 'peer') {
          const m = await measure(
            'runuser',
            ['-u', 'postgres', '--', 'pgbackrest', ...peer.args('backup', ['--type=full'])],
            { serverPid },
          );
          if (m.code !== 0) throw new Error(`pgbackrest backup failed: ${m.stderr}`);
          bk.peer.push(m);
          line('peer', m);
        } else {
          const m = await measure(process.execPath, cli(['backup', 'db']), { serverPid });
          if (m.code !== 0) throw new Error(`safetynet backup db failed: ${m.stderr}`);
          const j = lastJson(m.stdout);
          storedOurs = Number(j.storedBytes);
          bk.ours.push(m);
          line('ours', m, phasesOf(j, ['checkpointMs', 'streamMs', 'countsMs', 'walMs', 'commitMs']));
        }
      }
    }
    const info = JSON.parse(asPostgres('pgbackrest', [...peer.args('info'), '--output=json'])) as {
      backup: { label: string; info: { repository: { delta: number } } }[];
    }[];
    const lastPeer = info[0]!.backup[info[0]!.backup.length - 1]!;
    // Every object each full wrote, as a bucket bills it: ours counts its parts and its manifest,
    // so pgBackRest's count is its backup folder, its two manifest files included (`info`'s
    // repository delta leaves them out).
    const storedPeer = treeBytes(path.join(peer.repo, 'backup', 'shop', lastPeer.label));
    note(
      `  stored: ours ${storedOurs} bytes (parts + manifest); peer ${storedPeer} bytes (backup folder; info's delta without manifests ${lastPeer.info.repository.delta})`,
    );
    const med = (a: Measured[], k: keyof Measured) => median(a.map((m) => m[k] as number));
    rows.push(
      {
        metric: 'base backup wall (median)',
        unit: 'ms',
        ours: med(bk.ours, 'wallMs'),
        peer: med(bk.peer, 'wallMs'),
        peerName: PEER,
        goalRatio: 1,
      },
      {
        metric: 'base backup CPU of the tool (median)',
        unit: 'ms',
        ours: med(bk.ours, 'cpuMs'),
        peer: med(bk.peer, 'cpuMs'),
        peerName: PEER,
      },
      {
        metric: 'base backup CPU of the database server (median)',
        unit: 'ms',
        ours: med(bk.ours, 'serverCpuMs'),
        peer: med(bk.peer, 'serverCpuMs'),
        peerName: PEER,
      },
      {
        metric: 'stored bytes of one full',
        unit: 'bytes',
        ours: storedOurs,
        peer: storedPeer,
        peerName: PEER,
        goalRatio: 1,
      },
    );

    // 2. A point in time between commits; both archives hold it.
    const writer = new pg.Client({ connectionString: cluster.connectionString });
    await writer.connect();
    let target = ''; // pgBackRest wants "YYYY-MM-DD HH:MM:SS.mmm+00"; we take ISO 8601
    for (let i = 0; i < 20; i++) {
      await writer.query('INSERT INTO ticks DEFAULT VALUES');
      if (i === 9) {
        await sleep(50);
        target = (
          await writer.query<{ t: string }>(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') t",
          )
        ).rows[0]!.t;
        await sleep(50);
      }
      await sleep(100);
    }
    const targetIso = `${target.replace(' ', 'T')}Z`;
    const targetPeer = `${target}+00`;
    const expected = Number(
      (await writer.query('SELECT count(*) n FROM ticks WHERE at <= $1', [targetIso])).rows[0].n,
    );
    await writer.end();
    await catchUp(cluster, deps);

    // 3. Restore + recovery to T until writable.
    note(
      `\nrestore + recovery to ${targetIso} until the server accepts writes, ${rounds} rounds alternating:`,
    );
    const rs = {
      ours: [] as number[],
      peer: [] as number[],
      oursCpu: [] as number[],
      peerCpu: [] as number[],
    };
    for (let r = 0; r < rounds; r++) {
      for (const who of r % 2 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const)) {
        const dir = path.join(work, `${who}-restore`);
        const port = await freePort();
        const watch = (since: number, signal: AbortSignal) => untilWritable(port, since, signal);
        let m: Measured & { watched?: number };
        let extra: string;
        if (who === 'ours') {
          mkdirSync(path.dirname(dir), { recursive: true });
          m = await measure(
            process.execPath,
            cli(['restore', 'db', '--to', dir, '--at', targetIso, '--start', '--port', String(port)]),
            { serverPid, watch },
          );
          if (m.code !== 0) throw new Error(`safetynet restore db failed: ${m.stderr}`);
          const j = lastJson(m.stdout);
          extra = `command ${s(m.wallMs)}: ${phasesOf(j.phases as Record<string, unknown>, [
            'planMs',
            'baseMs',
            'walMs',
            'configMs',
            'serverStartMs',
            'recoveryMs',
            'readyMs',
            'countsMs',
            'pgStartupMs',
            'pgRedoMs',
            'pgEndRecoveryMs',
            'pgCheckpointMs',
            'pgOpenMs',
          ])}`;
        } else {
          postgresDir(dir);
          m = await measure(
            'runuser',
            peerRestoreScript(peer, dir, port, path.join(work, `peer-${r}.log`), [
              '--type=time',
              `--target=${targetPeer}`,
              '--target-action=promote',
            ]),
            { serverPid, watch },
          );
          if (m.code !== 0) throw new Error(`pgbackrest restore failed: ${m.stderr}`);
          const [a, b] = m.stdout
            .trim()
            .split('\n')
            .map((x) => Number(x) / 1e6);
          const own = recoveryLogPhases(readFileSync(path.join(work, `peer-${r}.log`), 'utf8'));
          extra = `pgbackrest restore ${s(b! - a!)}, then start and recovery: ${phasesOf(own, Object.keys(own))}`;
        }
        const n = await countTicks(port);
        stopServer(dir);
        rmSync(dir, { recursive: true, force: true });
        if (n !== expected)
          throw new Error(`${who}'s restore to ${targetIso} holds ${n} ticks, expected ${expected}`);
        rs[who].push(m.watched!);
        rs[who === 'ours' ? 'oursCpu' : 'peerCpu'].push(m.cpuMs);
        line(who, { ...m, wallMs: m.watched! }, extra);
      }
    }
    rows.push(
      {
        metric: 'restore + recovery to T until writable (median)',
        unit: 'ms',
        ours: median(rs.ours),
        peer: median(rs.peer),
        peerName: PEER,
        goalRatio: 1,
      },
      {
        metric: 'restore CPU of the tool (median)',
        unit: 'ms',
        ours: median(rs.oursCpu),
        peer: median(rs.peerCpu),
        peerName: PEER,
      },
    );

    // 4. The restore test against the peer's restore + start + the same pg_amcheck.
    note('\nrestore test:');
    const rt = await measure(process.execPath, cli(['restore-test']), { serverPid });
    const rtj = lastJson(rt.stdout);
    if (rtj.ok !== true) throw new Error(`restore test failed: ${JSON.stringify(rtj)}`);
    line('ours', rt);
    const pdir = path.join(work, 'peer-check');
    postgresDir(pdir);
    const pport = await freePort();
    const amcheck = [
      '--install-missing',
      '--heapallindexed',
      '-j',
      '2',
      '-h',
      '127.0.0.1',
      '-p',
      String(pport),
      '-U',
      'postgres',
      '-d',
      'shop',
    ];
    const script = peerRestoreScript(peer, pdir, pport, path.join(work, 'peer-check.log'), [
      '--type=immediate',
      '--target-action=promote',
    ]);
    script[script.length - 1] +=
      `; until ${BIN}/psql -h 127.0.0.1 -p ${pport} -U postgres -d shop -Atc 'select not pg_is_in_recovery()' 2>/dev/null | grep -q t; do sleep 0.02; done; ${BIN}/pg_amcheck ${amcheck.join(' ')}`;
    const pc = await measure('runuser', script, { serverPid });
    stopServer(pdir);
    rmSync(pdir, { recursive: true, force: true });
    if (pc.code !== 0) throw new Error(`peer restore + pg_amcheck failed: ${pc.stderr}`);
    line('peer', pc, 'restore + start + pg_amcheck --heapallindexed -j 2');
    rows.push({
      metric: 'restore test (restore + recovery + pg_verifybackup + amcheck + counts)',
      unit: 'ms',
      ours: rt.wallMs,
      peer: pc.wallMs,
      peerName: `${PEER} restore + pg_amcheck`,
    });

    // 5. RPO under steady writes, and our stream's storage requests.
    const count = (a: typeof requests, b: typeof requests) =>
      b.put - a.put + b.delete - a.delete + b.list - a.list;
    const perHour = (a: typeof requests, b: typeof requests, ms: number) => (count(a, b) / ms) * 3_600_000;
    const ticker = new pg.Client({ connectionString: cluster.connectionString });
    await ticker.connect();
    let writing = true;
    const loop = (async () => {
      while (writing) {
        await ticker.query('INSERT INTO ticks DEFAULT VALUES');
        await sleep(100);
      }
    })();
    // First without archive_timeout (a shop with safetynet alone): pgBackRest's 60 s forced segment
    // switches close a mostly empty segment every minute, which we then store whole and whose
    // pieces we delete.
    const setArchiveTimeout = async (v: string) => {
      await cluster.query(`ALTER SYSTEM SET archive_timeout = '${v}'`);
      await cluster.query('SELECT pg_reload_conf()');
    };
    await setArchiveTimeout('0');
    await sleep(5000);
    const alone0 = { ...requests };
    await sleep(60_000);
    const writesAlone = perHour(alone0, requests, 60_000);
    await setArchiveTimeout('60');
    await sleep(5000);
    // Three moments T, one at a random point of each minute (pgBackRest's RPO depends on where T
    // falls between two forced segment switches): both repositories are copied as they are at T by
    // hard links, in milliseconds (both tools only ever add, rename and delete whole files).
    const before = { ...requests };
    const w0 = Date.now();
    const moments: number[] = [];
    for (let k = 0; k < 3; k++) {
      await sleep(w0 + k * 60_000 + Math.floor(Math.random() * 60_000) - Date.now());
      moments.push(Date.now());
      execFileSync('cp', ['-al', path.join(work, 'sn-repo'), path.join(work, `sn-copy-${k}`)]);
      execFileSync('cp', ['-al', peer.repo, path.join(work, `pgbr-copy-${k}`)]);
    }
    await sleep(w0 + 180_000 - Date.now());
    const underWrites = perHour(before, requests, Date.now() - w0);
    writing = false;
    await loop;
    await ticker.end();
    // Idle: first the tail of the writes (the last heartbeat, the bgwriter's record, the forced
    // segment switch), then a quiet window.
    const tail = { ...requests };
    await sleep(90_000);
    const idle0 = { ...requests };
    const idleMs = arg('--idle-seconds', 300) * 1000;
    await sleep(idleMs);
    const idlePerHour = perHour(idle0, requests, idleMs);
    note(
      `\nWAL stream requests: under writes (one insert every 100 ms) ${Math.round(writesAlone)}/h without archive_timeout, ${Math.round(underWrites)}/h with pgBackRest's archive_timeout = 60; ${count(tail, idle0)} in the 90 s after the last write; then ${count(idle0, requests)} in ${idleMs / 1000} s idle (${Math.round(idlePerHour)}/h)`,
    );

    const rpo = { ours: [] as number[], peer: [] as number[] };
    for (const [k, T] of moments.entries()) {
      const copyCfg = path.join(work, `copy-${k}.config.json`);
      writeFileSync(
        copyCfg,
        JSON.stringify({
          ...raw,
          backup: {
            ...raw.backup,
            repository: path.join(work, `sn-copy-${k}`),
            stateDir: path.join(work, `copy-state-${k}`),
          },
        }),
      );
      const ourDir = path.join(work, `rpo-ours-${k}`);
      const p1 = await freePort();
      execFileSync(
        process.execPath,
        [
          SAFETYNET_CLI,
          '--config',
          copyCfg,
          'restore',
          'db',
          '--to',
          ourDir,
          '--start',
          '--port',
          String(p1),
          '--json',
        ],
        { stdio: 'ignore' },
      );
      rpo.ours.push(T - (await newestTick(p1)));
      stopServer(ourDir);
      rmSync(ourDir, { recursive: true, force: true });
      const copyConf = path.join(work, `pgbackrest-copy-${k}.conf`);
      writeFileSync(
        copyConf,
        execFileSync('sed', [`s#repo1-path=.*#repo1-path=${path.join(work, `pgbr-copy-${k}`)}#`, peer.conf]),
      );
      chmodSync(copyConf, 0o644);
      const peerDir = path.join(work, `rpo-peer-${k}`);
      postgresDir(peerDir);
      asPostgres('pgbackrest', [
        `--config=${copyConf}`,
        '--stanza=shop',
        `--pg1-path=${peerDir}`,
        '--archive-mode=off',
        'restore',
      ]);
      const p2 = await freePort();
      asPostgres(`${BIN}/pg_ctl`, [
        '-D',
        peerDir,
        '-l',
        path.join(work, `rpo-peer-${k}.log`),
        '-W',
        'start',
        '-o',
        `-p ${p2} -c unix_socket_directories=`,
      ]);
      await untilWritable(p2, performance.now());
      rpo.peer.push(T - (await newestTick(p2)));
      stopServer(peerDir);
      rmSync(peerDir, { recursive: true, force: true });
    }
    note(`RPO at three moments: ours ${rpo.ours.map(s).join(', ')}; peer ${rpo.peer.map(s).join(', ')}`);
    rows.push(
      {
        metric: 'RPO under steady writes (median of 3 moments)',
        unit: 'ms',
        ours: median(rpo.ours),
        peer: median(rpo.peer),
        peerName: PEER,
      },
      {
        metric: 'WAL storage requests/hour, writes (no archive_timeout)',
        unit: 'count',
        ours: Math.round(writesAlone),
        peer: NaN,
        peerName: 'none (reported)',
      },
      {
        metric: 'WAL storage requests/hour, writes (archive_timeout = 60)',
        unit: 'count',
        ours: Math.round(underWrites),
        peer: NaN,
        peerName: 'none (reported)',
      },
      {
        metric: 'WAL storage requests/hour, idle',
        unit: 'count',
        ours: Math.round(idlePerHour),
        peer: NaN,
        peerName: 'none (reported)',
      },
    );

    printTable(`PostgreSQL ${(size / 2 ** 20).toFixed(0)} MiB ${data} database: safetynet vs ${PEER}`, rows);
    appendResults('pg', rows, { data, sizeBytes: size, rounds, notes });
  } finally {
    ac.abort();
    await stream?.catch(() => {});
    await closeAll?.();
    await cluster.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
