/**
 * Worker thread: checks a restored SQLite file (check.ts: full or quick, optionally
 * foreign_key_check) off the main thread, so the check runs while the file is being fsync'd and
 * the event loop (serve's admin panel) stays responsive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkDatabase, type CheckRequest } from './check.js';

try {
  parentPort!.postMessage({ ok: true, result: checkDatabase(workerData as CheckRequest) });
} catch (err) {
  parentPort!.postMessage({
    ok: false,
    message: (err as Error).message,
    code: (err as { code?: string }).code,
  });
}
