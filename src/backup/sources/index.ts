/**
 * The sources: the one place that maps `database.type` to a database implementation, and the
 * file-set source. Everything else works through the BackupSource contract (./types.ts).
 */
import type { DatabaseConfig, LogsConfig } from '../../config/types.js';
import type { DatabaseSource } from './types.js';
import { logStoreSqliteSource, sqliteSource } from './sqlite/index.js';
import { postgresSource } from './postgres/index.js';
export { fileSetSource, type FileSetSource } from './files/source.js';

const SOURCES: Record<DatabaseConfig['type'], DatabaseSource> = {
  sqlite: sqliteSource,
  postgres: postgresSource,
};

/** The source that backs up the configured shop database. */
export function databaseSource(config: { database: DatabaseConfig }): DatabaseSource {
  return SOURCES[config.database.type];
}

/**
 * The source that backs up the log store as its own catalog source ("logs"), or undefined when the
 * log store is PostgreSQL: it then lives in a PostgreSQL database that the cluster's own backups
 * cover (docs/disaster-recovery.md), not a source of ours.
 */
export function logStoreSource(config: { logs: LogsConfig }): DatabaseSource | undefined {
  return config.logs.store.type === 'sqlite' ? logStoreSqliteSource : undefined;
}

export type * from './types.js';
