/**
 * Which SQLite file the SQLite source backs up: the shop database (`database.path`, catalog source
 * "db") or the SQLite log store (`logs.store.path`, catalog source "logs"). Each target has its own
 * catalog source, so its points form their own chain, retention group and restore, and its own
 * page-index folder under backup.stateDir.
 */
import type { SafetynetConfig as Config } from '../../../config/types.js';

export interface SqliteTarget {
  /** The live SQLite file. */
  file: string;
  /** Catalog `source` of its points. */
  source: 'db' | 'logs';
  /** Folder under backup.stateDir that holds its page index. */
  stateFolder: string;
  /** What the file is, for messages ("the database", "the log store"). */
  label: string;
  /**
   * This process writes the file too (the logger's writer thread writes the log store): snapshot it
   * only through SQLite connections, never a raw descriptor (see snapshot.ts on POSIX locks).
   */
  sqliteOnly: boolean;
}

/** The shop database (`database.path`). */
export function shopTarget(config: Pick<Config, 'database'>): SqliteTarget {
  return {
    file: config.database.path,
    source: 'db',
    stateFolder: 'sqlite',
    label: 'the database',
    sqliteOnly: false,
  };
}

/** The SQLite log store (`logs.store.path`). */
export function logStoreTarget(config: Pick<Config, 'logs'>): SqliteTarget {
  return {
    file: config.logs.store.path,
    source: 'logs',
    stateFolder: 'sqlite-logs',
    label: 'the log store',
    sqliteOnly: true,
  };
}
