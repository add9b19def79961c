/**
 * A reader thread of ThreadedLogStore: opens the configured store and runs the LogStore calls
 * posted to it, one at a time, answering each with its value or its error as plain data.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LogStoreConfig } from '../../config/types.js';
import { UsageError } from '../../errors.js';
import { openLogStore } from './open.js';
import { toWire, type StoreCall, type StoreReply } from './threaded.js';
import type { LogStore } from './types.js';

const data = workerData as { store: LogStoreConfig; busyTimeoutMs: number };
const port = parentPort!;
let store: LogStore | undefined;

const METHODS = new Set([
  'append',
  'search',
  'countByLevel',
  'get',
  'verifyChain',
  'prune',
  'categories',
  'spoolOffset',
  'forgetSpool',
  'maintain',
  'readRaw',
  'chainState',
  'writeRaw',
]);

port.on('message', (call: StoreCall) => {
  void run(call);
});

async function run(call: StoreCall): Promise<void> {
  if (call.method === 'close') {
    await store?.close().catch(() => {});
    port.close();
    return;
  }
  let reply: StoreReply;
  try {
    if (!METHODS.has(call.method)) throw new Error(`unknown store method ${call.method}`);
    store ??= openLogStore(data.store, { busyTimeoutMs: data.busyTimeoutMs });
    const fn = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[call.method]!;
    reply = { id: call.id, ok: true, value: await fn.apply(store, call.args) };
  } catch (err) {
    // A store that failed to open (or broke) is opened afresh for the next call.
    if (!(err instanceof UsageError)) {
      const s = store;
      store = undefined;
      await s?.close().catch(() => {});
    }
    reply = { id: call.id, ok: false, error: toWire(err) };
  }
  port.postMessage(reply);
}
