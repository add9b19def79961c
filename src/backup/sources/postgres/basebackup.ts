/**
 * PostgreSQL base backups: `pg_basebackup -D - -Ft -X none --checkpoint=fast` over the replication
 * protocol (a role with REPLICATION, no shell on the database host), its tar stream cut into
 * 8 MiB parts that are sealed (zstd + age) and stored while the next part is read — nothing is
 * staged on local disk. The point is consistent once WAL through its stop LSN is stored, which
 * the backup makes sure of (the running stream, or a one-shot catch-up) before it commits.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { BackupDeps } from '../../context.js';
import { dataPartKey, newPointId } from '../../repo/layout.js';
import { pointTimeAfter } from '../../repo/point-time.js';
import { createdBy, type PointWriter } from '../../repo/repository.js';
import { MANIFEST_FORMAT, type PartRecord } from '../../repo/types.js';
import type { DbBackupOptions, DbBackupResult } from '../types.js';
import { lockForBackup, throwIfAborted } from '../common.js';
import { commandFailed, pgTool, spawnSupervised } from './tools.js';
import { quoteTable, replicationArgs, withClient } from './conn.js';
import { ensureSlot, ensureWalThrough, pgConfig } from './walstream.js';
import { parseLsn, segmentName, segmentOf } from './wal.js';
import { formatBytes } from '../../../util/format.js';
import { SafetynetError } from '../../../errors.js';
import type { PostgresManifest } from './manifest.js';
import { TarScanner } from './tar-scan.js';

const PART_BYTES = 8 * 1024 * 1024;

/** Takes a base backup into the repository. */
export async function backupPostgres(deps: BackupDeps, opts: DbBackupOptions): Promise<DbBackupResult> {
  const { repo, clock } = deps;
  const pgc = pgConfig(deps);
  repo.recipients();
  await repo.prepareForWrite();
  const lock = opts.locked ? undefined : await lockForBackup(deps, 'backup db (postgres base backup)');
  let writer: PointWriter | undefined;
  const started = clock.now();
  try {
    await repo.ensureInitialized();
    const server = await serverFacts(deps);
    // The slot exists before the backup starts, so every WAL byte from its start on is kept for us.
    await ensureSlot(deps);
    const label = `safetynet ${new Date(started).toISOString()}`;
    const time =
      opts.time ??
      pointTimeAfter(
        (await repo.listPoints()).filter((p) => p.source === 'db'),
        started,
      );
    const id = newPointId(time);
    writer = repo.beginPoint({
      id,
      source: 'db',
      kind: 'full',
      time,
      parent: null,
      set: opts.set ?? null,
    });
    const child = spawnSupervised(
      pgTool(pgc, 'pg_basebackup'),
      ['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast', '-l', label, ...replicationArgs(pgc)],
      {
        ...(opts.signal ? { signal: opts.signal } : {}),
        onStderr: (line) => {
          if (!/^NOTICE: {2}WAL archiving is not enabled/.test(line))
            void deps.log.warn(`pg_basebackup: ${line}`);
        },
      },
    );
    const hash = createHash('sha256');
    const scan = new TarScanner(['backup_label', 'backup_manifest']);
    const parts: Promise<PartRecord>[] = [];
    let tarBytes = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const plain = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const index = parts.length;
      const key = dataPartKey(id, index);
      const { stored } = await writer!.add(index, key, plain, { skipPlainHash: false });
      const rec = stored.then(({ ref, plainSha256, plainBytes }) => ({
        key,
        plainBytes,
        plainSha256,
        sealedBytes: ref.size,
        sealedSha256: ref.sha256,
      }));
      rec.catch(() => {});
      parts.push(rec);
    };
    deps.progress.start('base backup', server.sizeBytes);
    try {
      for await (const chunk of child.child.stdout! as AsyncIterable<Buffer>) {
        hash.update(chunk);
        scan.push(chunk);
        tarBytes += chunk.length;
        pending.push(chunk);
        pendingBytes += chunk.length;
        deps.progress.advance(chunk.length);
        if (pendingBytes >= PART_BYTES) await flush();
      }
      await flush();
    } catch (err) {
      await child.stop(1000);
      throw err;
    } finally {
      deps.progress.done();
    }
    const { code, signal } = await child.exited;
    throwIfAborted(opts.signal);
    if (code !== 0) throw commandFailed(child.command, code, signal, child.stderr());
    const wal = walRange(scan);
    const { timeline, startLsn, stopLsn, label: backupLabel } = wal;
    const consistentAt = clock.now();
    const counts = await countRows(deps);
    // WAL through both the stop point and the counts' point, so the restore test can stop exactly there.
    const through = parseLsn(counts.lsn) > parseLsn(stopLsn) ? counts.lsn : stopLsn;
    const walVia = await ensureWalThrough(deps, timeline, startLsn, through, server.segSize, opts.signal);
    throwIfAborted(opts.signal);
    const partRecords = await Promise.all(parts);
    const seg = (l: string) => segmentName(timeline, segmentOf(parseLsn(l), server.segSize), server.segSize);
    const manifest: PostgresManifest = {
      format: MANIFEST_FORMAT,
      id,
      source: 'db',
      kind: 'full',
      time: new Date(opts.time ?? started).toISOString(),
      parent: null,
      set: opts.set ?? null,
      database: {
        type: 'postgres',
        serverVersion: server.version,
        systemIdentifier: server.systemIdentifier,
        segSize: server.segSize,
        timeline,
        label: backupLabel,
        startLsn,
        stopLsn,
        startWal: seg(startLsn),
        stopWal: seg(stopLsn),
        consistentAt: new Date(consistentAt).toISOString(),
        tables: counts.tables,
        countsLsn: counts.lsn,
        tarBytes,
        sha256: hash.digest('hex'),
      },
      parts: partRecords,
      durationMs: clock.now() - started,
      createdBy: createdBy(),
    };
    const entry = await writer.commit(manifest, {
      logicalBytes: tarBytes,
      summary: {
        engine: 'postgres',
        timeline,
        startLsn,
        stopLsn,
        startWal: manifest.database.startWal,
        stopWal: manifest.database.stopWal,
        segSize: server.segSize,
        consistentAt: manifest.database.consistentAt,
        parts: partRecords.length,
      },
    });
    writer = undefined;
    return {
      entry,
      kind: 'full',
      reason: 'PostgreSQL points are base backups; WAL between them is streamed continuously',
      durationMs: clock.now() - started,
      facts: { timeline, startLsn, stopLsn, startWal: manifest.database.startWal, wal: walVia, tarBytes },
      line: `base backup ${entry.id}: ${formatBytes(tarBytes)} cluster, WAL ${startLsn}..${stopLsn} on timeline ${timeline}`,
    };
  } catch (err) {
    await writer?.abort().catch(() => {});
    throw err;
  } finally {
    await lock?.release().catch(() => {});
  }
}

/** Start and stop of the WAL a base backup needs, from its backup_label and backup_manifest. */
function walRange(scan: TarScanner): { timeline: number; startLsn: string; stopLsn: string; label: string } {
  const label = scan.found.get('backup_label')?.toString('utf8') ?? '';
  const manifest = scan.found.get('backup_manifest')?.toString('utf8') ?? '';
  const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/.exec(label);
  const tli = /START TIMELINE: (\d+)/.exec(label);
  let ranges: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] = [];
  try {
    ranges = (JSON.parse(manifest) as { 'WAL-Ranges': typeof ranges })['WAL-Ranges'] ?? [];
  } catch {
    // reported below
  }
  const last = ranges[ranges.length - 1];
  if (!start || !tli || !last) {
    throw new SafetynetError(
      'E_PG_BACKUP_FORMAT',
      'the base backup stream holds no backup_label or backup_manifest with its WAL range',
      { hint: 'safetynet needs PostgreSQL 13 or newer (pg_basebackup writes a backup manifest)' },
    );
  }
  return {
    timeline: Number(tli[1]),
    startLsn: start[1]!,
    stopLsn: last['End-LSN'],
    label: /LABEL: (.*)/.exec(label)?.[1] ?? '',
  };
}

async function serverFacts(
  deps: BackupDeps,
): Promise<{ version: string; systemIdentifier: string; segSize: number; sizeBytes: number }> {
  return withClient(pgConfig(deps), async (c) => {
    const r = await c.query<{ v: string; seg: string; sys: string; size: string }>(
      `SELECT current_setting('server_version') v, current_setting('wal_segment_size') seg,
              (SELECT system_identifier::text FROM pg_control_system()) sys,
              (SELECT sum(pg_database_size(oid))::text FROM pg_database) size`,
    );
    const row = r.rows[0]!;
    return {
      version: row.v,
      systemIdentifier: row.sys,
      segSize: parseSize(row.seg),
      sizeBytes: Number(row.size),
    };
  });
}

function parseSize(s: string): number {
  const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(s.trim());
  if (!m) return 16 * 1024 * 1024;
  const mult = m[2] === 'GB' ? 1 << 30 : m[2] === 'MB' ? 1 << 20 : m[2] === 'kB' ? 1024 : 1;
  return Number(m[1]) * mult;
}

/**
 * Row counts of the configured tables (all user tables when none are configured) in one
 * REPEATABLE READ snapshot, with the WAL position read by the snapshot's first statement: a
 * restore stopped at that LSN holds exactly these rows (save a commit racing that statement).
 */
export async function countRows(deps: BackupDeps): Promise<{ tables: Record<string, number>; lsn: string }> {
  const pgc = pgConfig(deps);
  return withClient(pgc, async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const lsn = (await c.query<{ l: string }>('SELECT pg_current_wal_lsn()::text l')).rows[0]!.l;
      const tables = await tableNames(c, pgc.tables, pgc.heartbeatTable);
      const out: Record<string, number> = {};
      for (const t of tables) {
        const r = await c.query<{ n: string }>(`SELECT count(*)::text n FROM ${quoteTable(t)}`);
        out[t] = Number(r.rows[0]!.n);
      }
      return { tables: out, lsn };
    } finally {
      await c.query('COMMIT').catch(() => {});
    }
  });
}

/** The configured tables, or every table outside the system schemas (the heartbeat left out). */
export async function tableNames(c: pg.Client, configured: string[], heartbeat: string): Promise<string[]> {
  if (configured.length) return configured;
  const r = await c.query<{ t: string }>(
    `SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END t
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg_toast%' AND NOT c.relispartition ORDER BY 1`,
  );
  return r.rows.map((x) => x.t).filter((t) => t !== heartbeat);
}
