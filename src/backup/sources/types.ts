/**
 * The BackupSource contract: what every source — the database ones (SQLite, PostgreSQL) and the
 * file sets — offers the generic backup layer (database.ts, restore-test.ts, drill.ts, verify.ts,
 * prune.ts, status.ts). `BackupSource` is the common part (what a point holds, how it is written,
 * restored, checked in a restore test and recovered in a drill); `DatabaseSource` adds the
 * continuous log and health, `FileSetSource` (./files/source.ts) wraps `backup files` /
 * `restore files`. The generic code works only through these interfaces; what differs between
 * sources is said by `capabilities`, never by checking which source it is.
 *
 * A database restore point is one catalog entry with `source: 'db'` (kind full or incremental).
 * Sources with a continuous log (PostgreSQL's WAL) also keep log objects outside the catalog; they
 * report them through `verifyLog`, `retainLog` and `streamStatus`.
 */
import type { BackupDeps } from '../context.js';
import type { CatalogEntry } from '../repo/types.js';

/** What a source can do beyond the basics. */
export interface SourceCapabilities {
  /** Points may build on a parent point (SQLite page incrementals). */
  incrementalPoints: boolean;
  /** Restores to any moment covered by a continuous log, not only to a point's own time. */
  pointInTime: boolean;
  /** What a restore writes: one database file, a server's data directory, or a tree of files. */
  restoreTarget: 'file' | 'directory' | 'tree';
  /** A restored directory can be started as a server (`restore db --start`). */
  startable: boolean;
  /** Keeps a continuous log outside the catalog (WAL), supervised by `serve`. */
  continuousLog: boolean;
  /** A restore can choose how deeply it checks the result (`restore db --check full|quick|none`). */
  restoreCheckLevels: boolean;
}

export type DbBackupMode = 'full' | 'incremental' | 'auto';

export interface DbBackupOptions {
  mode: DbBackupMode;
  /** Set id shared with a files point made in the same `backup all` run. */
  set?: string | null;
  /** The caller already holds the repository's exclusive lock (`backup all`). */
  locked?: boolean;
  /** The moment the point represents (ms); `backup all` passes one time for both halves. */
  time?: number;
  /** Stops the backup cleanly (no visible point is left) when aborted. */
  signal?: AbortSignal;
  /** SQLite only: snapshot method override (tests, benchmarks); other sources ignore it. */
  snapshotMethod?: 'locked-read' | 'backup-api';
}

/** Source-specific facts of a backup or restore, for log entries and `--json`. */
export type Facts = Record<string, string | number | boolean | null>;

export interface DbBackupResult {
  entry: CatalogEntry;
  kind: 'full' | 'incremental';
  /** Why this kind was taken. */
  reason: string;
  durationMs: number;
  facts: Facts;
  /** One human line describing the point (without the stored size and duration). */
  line: string;
}

export interface DbRestoreOptions {
  /** Target: a file (SQLite) or a data directory (PostgreSQL). */
  to: string;
  /** Restore the state at this time (ms): the newest point at or before it, plus log when possible. */
  at?: number;
  /** Restore this exact point id instead of choosing by time. */
  pointId?: string;
  /** Overwrite an existing target. */
  force?: boolean;
  /** Also run the source's extra consistency checks (SQLite: foreign_key_check). */
  foreignKeyCheck?: boolean;
  /**
   * SQLite: the structural check after the SHA-256 — 'full' (integrity_check), 'quick' (header,
   * schema, row counts against the manifest; the default) or 'none'. Restore tests use 'full'.
   */
  check?: 'full' | 'quick' | 'none';
  /** The caller already holds a repository lock. */
  locked?: boolean;
  /** SQLite: incrementals up to this many bytes are applied in memory in one pass (tests lower it). */
  overlayLimitBytes?: number;
  /** Startable sources: start the restored server and wait until it accepts connections. */
  start?: boolean;
  /** Port for a started server (default: a free one). */
  port?: number;
  /** Log only to the point's own consistency moment (restore tests). */
  recoveryTarget?: 'latest' | 'point' | { lsn: string };
}

export interface DbRestoreResult {
  point: CatalogEntry;
  /** Points applied, oldest first. */
  chain: string[];
  to: string;
  sizeBytes: number;
  /** SHA-256 of the restored file, when the source restores one file. */
  sha256?: string;
  integrity?: 'ok';
  foreignKeyViolations?: number;
  /** Rows per table as restored, and as the manifest recorded them. */
  tables: Record<string, number>;
  expectedTables: Record<string, number>;
  durationMs: number;
  phases: Record<string, number>;
  facts: Facts;
  /** A started server (startable sources with `start`). */
  server?: { port: number; pid: number; stop(): Promise<void> };
}

/** One check of a restore test, as recorded in the history. */
export interface RestoreTestCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** What a restore test may narrow; sources that always check everything ignore it. */
export interface RestoreTestScope {
  /** Files checked: a sample of this many, or 'all' (file sets; default 'all'). */
  sample?: number | 'all';
  /** Stops the check midway (serve's SIGTERM). */
  signal?: AbortSignal;
}

/** What a drill recovery reports. */
export interface DrillRecovery {
  detail: string;
  bytes: number;
  /** Points recovered, when the source recovers more than the one given (file sets: newest of each set). */
  points?: string[];
  /** Files recovered (sources that restore a tree). */
  files?: number;
  /** Achieved RPO measured by the source (heartbeat), when it can; else the generic point age is used. */
  rpoMs?: number;
  rpoBasis?: string;
}

/** A problem found in a source's continuous log (a WAL gap, a damaged segment). */
export interface LogProblem {
  key: string;
  kind: 'missing' | 'unreadable' | 'chain';
  message: string;
  points: string[];
}

/** What prune keeps of a source's continuous log, and why. */
export interface LogRetention {
  /** Log objects to delete. */
  remove: { key: string; size: number }[];
  /** Lines explaining what is kept (for --dry-run). */
  explain: string[];
  keptObjects: number;
}

/** Status of a continuous log stream (for `status` and the Backups page). */
export interface StreamStatus {
  running: boolean;
  /** Seconds since the newest log byte reached the repository. */
  lagSeconds: number | null;
  lagBytes: number | null;
  slot: { name: string; walStatus: string | null; active: boolean | null } | null;
  newestObject: { key: string; time: string | null } | null;
  gaps: string[];
  warnings: string[];
}

/** What `status` shows about the source. */
export interface SourceHealth {
  warnings: string[];
  stream?: StreamStatus;
}

/**
 * What every backup source offers: its points, how they are written and restored, and how a
 * restore test and a drill check them. `BO`/`BR`/`RO`/`RR`: the source's backup and restore
 * options and results.
 */
export interface BackupSource<BO, BR, RO, RR> {
  /** 'sqlite', 'postgres', 'files'. */
  readonly type: string;
  /** The `source` field of this source's catalog entries ('db', 'files'). */
  readonly pointSource: string;
  readonly capabilities: SourceCapabilities;
  /** Writes a new point; it becomes visible (in the catalog) only once complete. */
  backup(deps: BackupDeps, opts: BO): Promise<BR>;
  restore(deps: BackupDeps, opts: RO): Promise<RR>;
  /** Restores `point` into `scratch` and checks it the way a person would; never throws for a failed check. */
  restoreTest(
    deps: BackupDeps,
    point: CatalogEntry,
    scratch: string,
    scope?: RestoreTestScope,
  ): Promise<RestoreTestCheck[]>;
  /** Recovers `point` (and any log after it) into `scratch` as a drill; throws when recovery fails. */
  drillRecover(deps: BackupDeps, point: CatalogEntry, scratch: string): Promise<DrillRecovery>;
}

/** Any source, for code that only needs the common part. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBackupSource = BackupSource<any, any, any, any>;

/** A database backup source. */
export interface DatabaseSource extends BackupSource<
  DbBackupOptions,
  DbBackupResult,
  DbRestoreOptions,
  DbRestoreResult
> {
  /** Continuous-log sources: problems in the log chain from each point onward. */
  verifyLog?(deps: BackupDeps, points: CatalogEntry[], readData: boolean): Promise<LogProblem[]>;
  /** Continuous-log sources: which log objects the kept points and the point-in-time window need. */
  retainLog?(deps: BackupDeps, kept: CatalogEntry[], now: number): Promise<LogRetention>;
  /** Continuous-log sources: streams the log into the repository until `signal` aborts (serve, `wal stream`). */
  streamLog?(deps: BackupDeps, signal: AbortSignal): Promise<void>;
  /** Warnings about the live database and, for continuous-log sources, the stream's state. */
  health(deps: BackupDeps, points: CatalogEntry[]): Promise<SourceHealth>;
}
