/**
 * The records stored in the repository. Catalog entries are plaintext and hold no shop data (only
 * times, sizes, object keys and hashes of sealed bytes) so that a machine holding only the public
 * recipients can list, prune and check the repository; manifests are sealed (age + zstd) and hold
 * everything a restore needs.
 */
import type { PointKind } from './layout.js';

export const CATALOG_FORMAT = 1;
export const MANIFEST_FORMAT = 1;

/** One stored object as a point references it. */
export interface ObjectRef {
  key: string;
  /** Size of the sealed (stored) object in bytes. */
  size: number;
  /** SHA-256 (hex) of the sealed bytes: checkable without the identity. */
  sha256: string;
}

/** Plaintext catalog entry: written last, its presence makes the point visible. */
export interface CatalogEntry {
  format: number;
  id: string;
  source: string;
  kind: PointKind;
  /** The moment the data represents (snapshot time), ISO 8601 UTC. */
  time: string;
  /** When the point was committed, ISO 8601 UTC. */
  completedAt: string;
  durationMs: number;
  /** The point an incremental builds on. */
  parent: string | null;
  /** Points created together by `backup all` share a set id. */
  set: string | null;
  /** Data objects in order (for a full database point, their plaintexts concatenated are the file). */
  objects: ObjectRef[];
  manifest: ObjectRef;
  /** Plaintext bytes this point represents (database size, or total file bytes). */
  logicalBytes: number;
  /** Bytes this point added to the repository (its own new objects + manifest). */
  storedBytes: number;
  /** A files point that could not read every file is marked incomplete. */
  incomplete?: boolean;
  /** Short, non-sensitive facts for listings (page count, file count …). */
  summary?: Record<string, number | string | boolean>;
}

/** One part of a database point, as the sealed manifest records it. */
export interface PartRecord {
  key: string;
  plainBytes: number;
  plainSha256: string;
  sealedBytes: number;
  sealedSha256: string;
  /** Incremental parts: how many page records the part holds. */
  pages?: number;
}

/** The sealed manifest of a SQLite database point. */
export interface SqliteManifest {
  format: number;
  id: string;
  /** 'db': the shop database; 'logs': the SQLite log store. */
  source: 'db' | 'logs';
  kind: 'full' | 'incremental';
  time: string;
  parent: string | null;
  set: string | null;
  database: {
    type: 'sqlite';
    /** Where the database lived when it was backed up (informational). */
    path: string;
    pageSize: number;
    pageCount: number;
    sizeBytes: number;
    /** SHA-256 of the database file this point restores to. */
    sha256: string;
    /** Rows per table at the snapshot. */
    tables: Record<string, number>;
    journalMode: string;
    /** How the consistent snapshot was taken. */
    snapshotMethod: string;
  };
  parts: PartRecord[];
  /** Incremental: pages changed since the parent. */
  changedPages?: number;
  durationMs: number;
  createdBy: { host: string; version: string };
}

/** The repository's plaintext marker object. */
export interface RepositoryConfig {
  format: 'safetynet-repository';
  version: 1;
  id: string;
  createdAt: string;
  /** Recipients (public keys) the repository was created with; informational. */
  recipients: string[];
}
