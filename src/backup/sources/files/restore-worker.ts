/**
 * Worker thread of a files restore: opens one sealed pack (age + zstd), checks each blob's
 * SHA-256, and writes the files, so that decryption, hashing and file creation (slow on large
 * folders: the kernel's work grows with the folder) run on every core. The main thread has
 * already checked every path (inside the target, no link on the way); writes here still use
 * O_NOFOLLOW and, without --force, O_EXCL.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants as fsc,
  fchmodSync,
  futimesSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { openReusing } from '../../crypto/seal.js';
import { parseIdentity } from '../../crypto/keys.js';
import type { BlobResult, BlobTask, PackResponse, PackTask, RestoreWorkerInit } from './restore-protocol.js';

const init = workerData as RestoreWorkerInit;
const identities = init.identities.map((t, i) => parseIdentity(t, `identity ${i}`, init.identitySources[i]));
init.identities.length = 0;

const CREATE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const OPEN_PART = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_NOFOLLOW;

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

function put(task: BlobTask, data: Uint8Array): void {
  if (task.kind === 'part') {
    const fd = openSync(task.tmp!, OPEN_PART, 0o600);
    try {
      writeAll(fd, data, task.fileOffset ?? 0);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const name = task.tmp ?? task.path;
  const fd = openSync(name, CREATE, 0o600);
  try {
    writeAll(fd, data, 0);
    fchmodSync(fd, task.mode & 0o777);
    const t = task.mtimeMs / 1000;
    futimesSync(fd, t, t);
  } catch (err) {
    closeSync(fd);
    rmSync(name, { force: true });
    throw err;
  }
  closeSync(fd);
  if (task.tmp) renameSync(task.tmp, task.path);
}

function handle(task: PackTask): PackResponse {
  let plain: Buffer;
  try {
    // Into this thread's reused buffer: the blobs are written out before the next pack is opened.
    plain = openReusing(task.sealed, identities, { name: task.name });
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'E_OBJECT_CORRUPT';
    // A damaged pack fails its files; a missing or wrong identity fails the whole restore.
    return {
      id: task.id,
      ok: false,
      code,
      message: (err as Error).message,
      fatal: code.startsWith('E_IDENTITY'),
    };
  }
  const results: BlobResult[] = [];
  let bytes = 0;
  for (const b of task.blobs) {
    if (b.offset + b.length > plain.length) {
      results.push({
        file: b.file,
        ok: false,
        message: `its content lies outside pack ${task.name} (the manifest does not match the pack)`,
      });
      continue;
    }
    const data = plain.subarray(b.offset, b.offset + b.length);
    if (createHash('sha256').update(data).digest('hex') !== b.sha256) {
      results.push({
        file: b.file,
        ok: false,
        message:
          b.kind === 'whole'
            ? 'its content does not match the SHA-256 in the manifest'
            : 'a part does not match its SHA-256 in the manifest',
      });
      continue;
    }
    try {
      put(b, data);
      bytes += data.length;
      results.push({ file: b.file, ok: true });
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code;
      results.push({
        file: b.file,
        ok: false,
        message: `cannot be written: ${(err as Error).message}`,
        ...(errno ? { errno } : {}),
      });
    }
  }
  return { id: task.id, ok: true, results, bytes };
}

parentPort!.on('message', (task: PackTask) => {
  let res: PackResponse;
  try {
    res = handle(task);
  } catch (err) {
    res = { id: task.id, ok: false, code: 'E_RESTORE_WORKER', message: (err as Error).message, fatal: true };
  }
  parentPort!.postMessage(res);
});
