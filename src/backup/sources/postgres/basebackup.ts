/**
 * PostgreSQL base backups: BASE_BACKUP over the replication protocol (a role with REPLICATION, no
 * shell on the database host; base-protocol.ts), the tar stream `pg_basebackup -Ft -D -` would
 * write (the server's archive with backup_manifest added) cut into
 * 8 MiB parts that are sealed (zstd + age) and stored while the next part is read — nothing is
 * staged on local disk. The point is consistent once WAL through its stop LSN is stored, which
 * the backup makes sure of (the running stream, or a one-shot catch-up) before it commits.
 */
import type { BackupDeps } from '../../context.js';
import { dataPartKey, newPointId } from '../../repo/layout.js';
import { pointTimeAfter } from '../../repo/point-time.js';
import { createdBy, type PointWriter } from '../../repo/repository.js';
import { MANIFEST_FORMAT, type PartRecord } from '../../repo/types.js';
import type { DbBackupOptions, DbBackupResult } from '../types.js';
import { lockForBackup, throwIfAborted } from '../common.js';
import { streamBaseBackup, type BaseStreamResult } from './base-stream.js';
import { replicationConnection, withClient } from './conn.js';
import { openCounts } from './row-counts.js';
import { ensureSlot, ensureWalThrough, pgConfig, spoolDir } from './walstream.js';
import { checkClusterIdentity } from './cluster-identity.js';
import { parseLsn, segmentName, segmentOf } from './wal.js';
import { formatBytes } from '../../../util/format.js';
import { SafetynetError } from '../../../errors.js';
import type { PostgresManifest } from './manifest.js';
import { Phases } from './phases.js';

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
  const phases = new Phases();
  try {
    await repo.ensureInitialized();
    const server = await serverFacts(deps);
    await checkClusterIdentity(deps, server.systemIdentifier, spoolDir(deps));
    // The slot exists before the backup starts, so every WAL byte from its start on is kept for us.
    await ensureSlot(deps);
    phases.lap('prepareMs');
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
    const parts: Promise<PartRecord>[] = [];
    deps.progress.start('base backup', server.sizeBytes);
    const connectionString = replicationConnection(pgc);
    let stream: BaseStreamResult;
    try {
      stream = await streamBaseBackup({
        ...(connectionString ? { connectionString } : {}),
        label,
        partBytes: PART_BYTES,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onStderr: (line) => void deps.log.warn(`base backup: ${line}`),
        // Until the first byte, the server runs its checkpoint (CHECKPOINT 'fast').
        onFirstByte: () => phases.lap('checkpointMs'),
        onPart: async (plain) => {
          const index = parts.length;
          const key = dataPartKey(id, index);
          deps.progress.advance(plain.length);
          // No plaintext hash: each part is bound to the manifest by its sealed SHA-256 (computed
          // on the worker anyway, checked by restore and verify) and age authenticates what it
          // decrypts to. A plaintext hash on top cost a third of the backup's CPU.
          const { stored } = await writer!.add(index, key, plain, { skipPlainHash: true });
          const rec = stored.then(({ ref, plainSha256, plainBytes }) => ({
            key,
            plainBytes,
            plainSha256,
            sealedBytes: ref.size,
            sealedSha256: ref.sha256,
          }));
          rec.catch(() => {});
          parts.push(rec);
        },
      });
    } catch (err) {
      throwIfAborted(opts.signal); // a stopped backup says so, not how the stream ended
      throw err;
    } finally {
      deps.progress.done();
    }
    throwIfAborted(opts.signal);
    phases.lap('streamMs');
    const tarBytes = stream.bytes;
    const wal = walRange(stream.found);
    const { timeline, startLsn, stopLsn, label: backupLabel } = wal;
    const consistentAt = clock.now();
    // The counts' snapshot and LSN first; the WAL wait and the counting then overlap.
    const counts = await openCounts(deps);
    phases.lap('countsMs');
    // WAL through both the stop point and the counts' point, so the restore test can stop exactly there.
    const through = parseLsn(counts.lsn) > parseLsn(stopLsn) ? counts.lsn : stopLsn;
    const [walVia, tables] = await Promise.all([
      ensureWalThrough(deps, timeline, startLsn, through, server.segSize, opts.signal, counts.walAfter),
      counts.tables,
    ]);
    throwIfAborted(opts.signal);
    phases.lap('walMs');
    const partRecords = await Promise.all(parts);
    phases.lap('lastPartsMs');
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
        tables,
        countsLsn: counts.lsn,
        countsExact: counts.exact,
        tarBytes,
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
    phases.lap('commitMs');
    return {
      entry,
      kind: 'full',
      reason: 'PostgreSQL points are base backups; WAL between them is streamed continuously',
      durationMs: clock.now() - started,
      facts: {
        timeline,
        startLsn,
        stopLsn,
        startWal: manifest.database.startWal,
        wal: walVia,
        tarBytes,
        ...phases.ms,
      },
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
function walRange(found: Map<string, Buffer>): {
  timeline: number;
  startLsn: string;
  stopLsn: string;
  label: string;
} {
  const label = found.get('backup_label')?.toString('utf8') ?? '';
  const manifest = found.get('backup_manifest')?.toString('utf8') ?? '';
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
      { hint: 'safetynet needs PostgreSQL 15 or newer' },
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
