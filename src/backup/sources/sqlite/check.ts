/**
 * The checks a restored database must pass before it replaces anything: PRAGMA integrity_check
 * (every page, every index), optionally foreign_key_check, and the row count of each table.
 */
import Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import { countRows } from './snapshot.js';
import { workerUrl } from '../../../util/worker-url.js';

export interface DatabaseCheck {
  /** "ok", or SQLite's list of problems. */
  integrity: string;
  foreignKeyViolations?: number;
  tables: Record<string, number>;
}

/** Runs the checks on this thread. */
export function checkDatabase(file: string, foreignKeyCheck: boolean): DatabaseCheck {
  const db = new Database(file, { fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const integrity = rows.map((r) => r.integrity_check).join('; ');
    const out: DatabaseCheck = { integrity, tables: integrity === 'ok' ? countRows(db) : {} };
    if (foreignKeyCheck) out.foreignKeyViolations = (db.pragma('foreign_key_check') as unknown[]).length;
    return out;
  } finally {
    db.close();
  }
}

/** Runs the checks in a worker thread. */
export function checkDatabaseInWorker(file: string, foreignKeyCheck: boolean): Promise<DatabaseCheck> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl(import.meta.url, 'check-worker'), {
      workerData: { file, foreignKeyCheck },
    });
    worker.once(
      'message',
      (m: { ok: true; result: DatabaseCheck } | { ok: false; message: string; code?: string }) => {
        if (m.ok) resolve(m.result);
        else reject(Object.assign(new Error(m.message), { code: m.code }));
      },
    );
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the database check worker exited with code ${code}`));
    });
  });
}
