/**
 * The PostgreSQL database source (being built): every operation refuses with a clear error.
 */
import { ConfigError } from '../../../errors.js';
import type { DatabaseSource } from '../types.js';

function unsupported(): never {
  throw new ConfigError(
    'E_DB_TYPE_UNSUPPORTED',
    'database.type "postgres" backups are not available in this version',
    { hint: 'this version backs up SQLite databases (database.type "sqlite")' },
  );
}

export const postgresSource: DatabaseSource = {
  type: 'postgres',
  capabilities: {
    incrementalPoints: false,
    pointInTime: true,
    restoreTarget: 'directory',
    startable: true,
    continuousLog: true,
  },
  backup: async () => unsupported(),
  restore: async () => unsupported(),
  restoreTest: async () => unsupported(),
  drillRecover: async () => unsupported(),
  health: async () => ({ warnings: [] }),
};
