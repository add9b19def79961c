/** The resolved configuration: validated, defaults filled in, paths absolute. */

export interface LogStoreConfig {
  type: 'sqlite' | 'postgres';
  /** Absolute path of the SQLite log store (type sqlite). */
  path: string;
  /** PostgreSQL connection string (type postgres). */
  connectionString?: string;
}

export interface LogsConfig {
  store: LogStoreConfig;
  /** Folder where entries wait while the store is unavailable. */
  spool: string;
  /** Days to keep per category; `default` applies to the rest. */
  retention: Record<string, number>;
  /** Every category entries may use: the built-in ones plus `logs.categories`. */
  categories: string[];
  /** Extra key names to redact, on top of the built-in list. */
  redactKeys: string[];
  /** Mirror each entry as one JSON line on stdout. */
  stdout: boolean;
  /** Serialized `details` larger than this are truncated with a marker. */
  maxDetailsBytes: number;
}

export interface DatabaseConfig {
  type: 'sqlite' | 'postgres';
  /** Absolute path of the shop's SQLite database (type sqlite). */
  path: string;
  connectionString?: string;
  /** Type postgres: how safetynet reaches the server (src/config/database.ts). */
  postgres?: PostgresSourceConfig;
}

/** A PostgreSQL shop database, as safetynet backs it up. */
export interface PostgresSourceConfig {
  /** libpq connection string; absent: the standard PG* variables. */
  connectionString?: string;
  /** Replication connection (base backups, pg_receivewal) when it differs (another role or host). */
  replicationConnectionString?: string;
  /** Replication slot pg_receivewal streams from (created if missing). */
  slot: string;
  /** OS user that runs restored and scratch servers when safetynet runs as root. */
  osUser: string;
  /** Tables whose rows are counted at backup time (empty: every table of the user schemas). */
  tables: string[];
  /** How often the open WAL segment's new bytes are uploaded. */
  walUploadSeconds: number;
  /** Heartbeat row interval (0: off). */
  heartbeatSeconds: number;
  heartbeatTable: string;
  /** Folder of the PostgreSQL programs; absent: PATH, then /usr/lib/postgresql/<newest>/bin. */
  binDir?: string;
}

export interface FileSetConfig {
  name: string;
  /** Absolute path of the set's root (a folder, or a single file). */
  path: string;
  include: string[];
  exclude: string[];
  /** True for the built-in defaults, whose absence is a warning rather than an error. */
  isDefault: boolean;
}

export interface BackupScheduleConfig {
  full: string;
  incremental: string;
  files: string;
  retention: string;
  logRetention: string;
  restoreTest: string;
  /** The rotating read-verify (one slice of the repository per run). */
  readVerify: string;
}

export interface BackupRetentionConfig {
  daily: number;
  weekly: number;
  monthly: number;
  pointInTimeDays: number;
}

export interface BackupConfig {
  /** `file:///abs/path` or `s3://bucket/prefix`, normalised. */
  repository: string;
  /** Local folder for caches that make incrementals cheap (page index, catalog cache); never needed to restore. */
  stateDir: string;
  s3: { endpoint?: string; region?: string; forcePathStyle?: boolean };
  recipients: string[];
  /** Absolute path of the age identity file, when configured. */
  identity?: string;
  /** IANA time zone the schedule and retention buckets use. */
  timezone: string;
  retention: BackupRetentionConfig;
  schedule: BackupScheduleConfig;
  objectives: { rpoMs: number; rtoMs: number };
  files: FileSetConfig[];
  /** The read-verify job re-reads every object once over this many runs. */
  readVerifySlices: number;
}

export interface AdminConfig {
  host: string;
  port: number;
  /** Absolute path of the admin accounts file. */
  users: string;
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  /** Which reverse proxies' X-Forwarded-* headers to believe: false, true, or addresses/CIDRs. */
  trustProxy: boolean | string[];
}

export interface SafetynetConfig {
  /** The config file read, or null when embedded defaults apply. */
  configFile: string | null;
  /** Folder relative paths were resolved against. */
  baseDir: string;
  logs: LogsConfig;
  database: DatabaseConfig;
  backup: BackupConfig;
  admin: AdminConfig;
  /** Things worth telling the user that are not errors (e.g. a default file set is missing). */
  warnings: string[];
}
