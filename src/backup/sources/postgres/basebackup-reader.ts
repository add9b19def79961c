/**
 * Worker thread of a base backup (see base-stream.ts for why it is a thread): runs
 * `pg_basebackup` (supervised, so it dies with this thread), reads its tar stream, watches it
 * for backup_label and backup_manifest, and hands the stream to the main thread as 8 MiB parts —
 * at most `credits` parts ahead of what the main thread has queued for sealing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { spawnSupervised } from './tools.js';
import { TarScanner } from './tar-scan.js';
import type { ReaderInit, ReaderRequest, ReaderResponse } from './base-stream.js';

const init = workerData as ReaderInit;
let credits = init.credits;
let wake: (() => void) | undefined;

function post(res: ReaderResponse, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(res, transfer);
}

const child = spawnSupervised(init.command, init.args, {
  onStderr: (line) => post({ type: 'stderr', line }),
  ...(init.via ? { via: init.via } : {}),
});

parentPort!.on('message', (req: ReaderRequest) => {
  if (req.type === 'credit') credits++;
  else void child.stop(1000);
  wake?.();
  wake = undefined;
});

async function main(): Promise<void> {
  const scan = new TarScanner(['backup_label', 'backup_manifest']);
  let part = Buffer.allocUnsafeSlow(init.partBytes);
  let fill = 0;
  let bytes = 0;
  const send = async (buf: Buffer) => {
    while (credits <= 0) await new Promise<void>((r) => (wake = r));
    credits--;
    post({ type: 'part', data: buf }, [buf.buffer as ArrayBuffer]);
  };
  let first = true;
  for await (const chunk of child.child.stdout! as AsyncIterable<Buffer>) {
    if (first) post({ type: 'first' });
    first = false;
    scan.push(chunk);
    bytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(part.length - fill, chunk.length - off);
      chunk.copy(part, fill, off, off + n);
      fill += n;
      off += n;
      if (fill === part.length) {
        await send(part);
        part = Buffer.allocUnsafeSlow(init.partBytes);
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    const last = Buffer.allocUnsafeSlow(fill);
    part.copy(last, 0, 0, fill);
    await send(last);
  }
  const { code, signal } = await child.exited;
  post({
    type: 'end',
    code,
    signal,
    command: child.command,
    stderr: child.stderr(),
    bytes,
    found: Object.fromEntries([...scan.found].map(([k, v]) => [k, v.toString('utf8')])),
  });
}

main().catch((err: unknown) => {
  void child.stop(1000);
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
});
