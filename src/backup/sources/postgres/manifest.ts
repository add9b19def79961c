/** The sealed manifest of a PostgreSQL base backup point (docs/FORMAT.md). */
import type { PartRecord } from '../../repo/types.js';

export interface PostgresManifest {
  format: number;
  id: string;
  source: 'db';
  kind: 'full';
  time: string;
  parent: null;
  set: string | null;
  database: {
    type: 'postgres';
    serverVersion: string;
    systemIdentifier: string;
    /** wal_segment_size in bytes. */
    segSize: number;
    timeline: number;
    /** The base backup's label (also in backup_label inside the tar). */
    label: string;
    startLsn: string;
    stopLsn: string;
    /** WAL segments holding the start and stop LSN: a restore needs every segment from startWal on. */
    startWal: string;
    stopWal: string;
    /** When the backup ended: the earliest moment this point restores to. */
    consistentAt: string;
    /** Rows per table in one snapshot taken right after the backup, at `countsLsn`. */
    tables: Record<string, number>;
    countsLsn: string;
    /**
     * The counts' snapshot was taken under a SHARE lock on the tables, so it matches `countsLsn`
     * exactly; false: a plain snapshot (the role may not lock), which a commit in the same instant
     * can miss. Absent in points of earlier builds (plain snapshots).
     */
    countsExact?: boolean;
    /** Bytes of the tar stream (the parts' plaintexts concatenated, in order). */
    tarBytes: number;
    /**
     * SHA-256 of the tar stream: written by earlier builds only (a sequential pass over every
     * byte); restore checks it when present. Newer points rely on each part's `sealedSha256`.
     */
    sha256?: string;
  };
  parts: PartRecord[];
  durationMs: number;
  createdBy: { host: string; version: string };
}
