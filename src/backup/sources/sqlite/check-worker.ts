/**
 * Worker thread: checks a restored SQLite file (PRAGMA integrity_check, optionally
 * foreign_key_check, row counts) off the main thread, so the check runs while the file is being
 * fsync'd and the event loop (serve's admin panel) stays responsive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkDatabase } from './check.js';

const { file, foreignKeyCheck } = workerData as { file: string; foreignKeyCheck: boolean };
try {
  parentPort!.postMessage({ ok: true, result: checkDatabase(file, foreignKeyCheck) });
} catch (err) {
  parentPort!.postMessage({
    ok: false,
    message: (err as Error).message,
    code: (err as { code?: string }).code,
  });
}
