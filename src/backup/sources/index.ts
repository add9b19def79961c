/**
 * The sources: the one place that maps `database.type` to a database implementation, and the
 * file-set source. Everything else works through the BackupSource contract (./types.ts).
 */
import type { DatabaseConfig } from '../../config/types.js';
import type { DatabaseSource } from './types.js';
import { sqliteSource } from './sqlite/index.js';
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

export type * from './types.js';
