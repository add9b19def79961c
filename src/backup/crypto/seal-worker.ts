/**
 * Worker thread of SealPool: seals and opens whole parts off the main thread, hashing them too, so
 * that two cores run two zstd compressors. Buffers come and go as transferred ArrayBuffers.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { parseIdentity, parseRecipient } from './keys.js';
import { openBuffer, openInto, sealBuffer, sealInto } from './seal.js';
import {
  serializeError,
  transferable,
  type WorkerInit,
  type WorkerRequest,
  type WorkerResponse,
} from './pool-protocol.js';

const init = workerData as WorkerInit;
const recipients = init.recipients.map((r) => parseRecipient(r));
const identities = init.identities.map((i, n) => parseIdentity(i, `identity ${n}`, init.identitySources[n]));
// Identity texts are no longer needed; drop our references to them.
init.identities.length = 0;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

parentPort!.on('message', (req: WorkerRequest) => {
  let res: WorkerResponse;
  const transfer: ArrayBuffer[] = [];
  try {
    const input = Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength);
    if (req.op === 'seal') {
      const plainSha256 = req.skipPlainHash ? '' : sha256(input);
      const sealed = sealBuffer(input, recipients, { level: init.level });
      const data = transferable(sealed);
      transfer.push(data.buffer as ArrayBuffer);
      res = { id: req.id, ok: true, data, plainSha256, sealedSha256: sha256(sealed) };
    } else if (req.op === 'sealInto') {
      const out = req.out!;
      const plainSha256 = req.skipPlainHash ? '' : sha256(input);
      const n = sealInto(input, out, recipients, { level: init.level });
      if (n >= 0) {
        const sealedSha256 = sha256(out.subarray(0, n));
        res = { id: req.id, ok: true, data: new Uint8Array(0), plainSha256, sealedBytes: n, sealedSha256 };
      } else {
        // Too big for the caller's buffer: sealed into fresh memory, handed back as `seal` does.
        const data = transferable(sealBuffer(input, recipients, { level: init.level }));
        transfer.push(data.buffer as ArrayBuffer);
        res = { id: req.id, ok: true, data, plainSha256, sealedBytes: -1, sealedSha256: sha256(data) };
      }
    } else if (req.op === 'openInto') {
      // Shared memory in and out: the caller's pool of buffers is written in place, so no
      // part's plaintext is ever fresh memory (nor copied or transferred).
      const out = req.out!;
      const n = openInto(input, out, identities, req.name ? { name: req.name } : {});
      const plain = Buffer.from(out.buffer, out.byteOffset, n);
      res = {
        id: req.id,
        ok: true,
        data: new Uint8Array(0),
        plainBytes: n,
        plainSha256: req.skipPlainHash ? '' : sha256(plain),
      };
    } else {
      const plain = openBuffer(input, identities, { ...(req.name ? { name: req.name } : {}) });
      const data = transferable(plain);
      transfer.push(data.buffer as ArrayBuffer);
      res = { id: req.id, ok: true, data, plainSha256: req.skipPlainHash ? '' : sha256(plain) };
    }
  } catch (err) {
    res = { id: req.id, ok: false, error: serializeError(err) };
  }
  parentPort!.postMessage(res, transfer);
});
