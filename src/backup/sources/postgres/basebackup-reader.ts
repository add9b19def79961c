/**
 * Worker thread of a base backup (see base-stream.ts for why it is a thread): runs BASE_BACKUP on
 * a replication connection (base-protocol.ts), turns the server's archive into the tar stream
 * `pg_basebackup -Ft -D -` writes (backup_manifest added as the last member, before the two zero
 * blocks that end the archive), watches it for backup_label and backup_manifest, and hands it to
 * the main thread as 8 MiB parts — at most `credits` parts ahead of what the main thread has
 * queued for sealing. While it is that far ahead, it stops reading the socket.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { TarScanner } from './tar-scan.js';
import { clientConfig } from './conn.js';
import { TAR_TRAILER_BYTES, tarFileHeader, tarPadding } from './tar-header.js';
import { BaseBackupQuery, baseBackupCommand, submitBaseBackup } from './base-protocol.js';
import type { ReaderInit, ReaderRequest, ReaderResponse } from './base-stream.js';

const init = workerData as ReaderInit;

function post(res: ReaderResponse, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(res, transfer);
}

/** Cuts the tar stream into parts and sends them as the main thread gives credits. */
class PartSender {
  private credits = init.credits;
  private part = Buffer.allocUnsafeSlow(init.partBytes);
  private fill = 0;
  private readonly waiting: Buffer[] = [];
  private drained: (() => void) | undefined;
  private paused = false;
  readonly scan = new TarScanner(['backup_label', 'backup_manifest']);
  bytes = 0;

  constructor(private readonly pause: (paused: boolean) => void) {}

  write(chunk: Buffer): void {
    this.scan.push(chunk);
    this.bytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.part.length - this.fill, chunk.length - off);
      chunk.copy(this.part, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.part.length) {
        this.waiting.push(this.part);
        this.part = Buffer.allocUnsafeSlow(init.partBytes);
        this.fill = 0;
      }
    }
    this.flush();
  }

  credit(): void {
    this.credits++;
    this.flush();
  }

  /** Sends the last, partly filled part and resolves once every part has been sent. */
  async finish(): Promise<void> {
    if (this.fill > 0) {
      const last = Buffer.allocUnsafeSlow(this.fill);
      this.part.copy(last, 0, 0, this.fill);
      this.waiting.push(last);
      this.fill = 0;
    }
    this.flush();
    if (this.waiting.length) await new Promise<void>((r) => (this.drained = r));
  }

  private flush(): void {
    while (this.credits > 0 && this.waiting.length) {
      const buf = this.waiting.shift()!;
      this.credits--;
      post({ type: 'part', data: buf }, [buf.buffer as ArrayBuffer]);
    }
    // Only on a change: this runs for every CopyData message.
    if (this.paused !== this.waiting.length > 0) this.pause((this.paused = !this.paused));
    if (!this.waiting.length) this.drained?.();
  }
}

/**
 * The server's archive minus its last two zero blocks (held back until the archive ends), then
 * backup_manifest as a member, then the two zero blocks.
 */
class ArchiveWriter {
  private tail = Buffer.alloc(0);
  private readonly manifest: Buffer[] = [];
  private archives = 0;

  constructor(private readonly out: PartSender) {}

  archive(name: string, tablespacePath: string): void {
    if (++this.archives > 1 || name !== 'base.tar') {
      throw new Error(
        `the cluster has a tablespace outside its data directory (${tablespacePath || name}); safetynet backs up the default tablespace only`,
      );
    }
  }

  archiveData(chunk: Buffer): void {
    const keep = TAR_TRAILER_BYTES;
    const emit = this.tail.length + chunk.length - keep;
    if (emit <= 0) {
      this.tail = Buffer.concat([this.tail, chunk]);
      return;
    }
    if (emit <= this.tail.length) {
      this.out.write(this.tail.subarray(0, emit));
      this.tail = Buffer.concat([this.tail.subarray(emit), chunk]);
      return;
    }
    if (this.tail.length) this.out.write(this.tail);
    const fromChunk = emit - this.tail.length;
    this.out.write(chunk.subarray(0, fromChunk));
    this.tail = Buffer.from(chunk.subarray(fromChunk));
  }

  manifestData(chunk: Buffer): void {
    this.manifest.push(Buffer.from(chunk));
  }

  /** Ends the stream: the manifest member and the trailer. */
  end(): void {
    if (this.tail.length !== TAR_TRAILER_BYTES || this.tail.some((b) => b !== 0)) {
      throw new Error('the server’s tar archive did not end with two zero blocks');
    }
    const manifest = Buffer.concat(this.manifest);
    if (!manifest.length) throw new Error('the server sent no backup manifest');
    this.out.write(tarFileHeader('backup_manifest', manifest.length, Math.floor(Date.now() / 1000)));
    this.out.write(manifest);
    this.out.write(tarPadding(manifest.length));
    this.out.write(this.tail);
  }
}

/** The client's socket (node-postgres keeps it on its connection; not part of its types). */
function socketOf(c: pg.Client): NodeJS.ReadableStream & { destroy(): void } {
  return (c as unknown as { connection: { stream: NodeJS.ReadableStream & { destroy(): void } } }).connection
    .stream;
}

let client: pg.Client | undefined;
let stopped = false;
let sender: PartSender | undefined;

parentPort!.on('message', (req: ReaderRequest) => {
  if (req.type === 'credit') sender?.credit();
  else {
    stopped = true;
    // The server aborts the backup when its connection goes away.
    if (client) socketOf(client).destroy();
  }
});

async function main(): Promise<void> {
  client = new pg.Client(
    clientConfig(init.connectionString, {
      replication: true,
      application_name: 'safetynet base backup',
    } as pg.ClientConfig),
  );
  client.on('error', () => {}); // a dropped connection fails the query below
  client.on('notice', (n: { message?: string }) =>
    post({ type: 'stderr', line: `NOTICE: ${n.message ?? ''}` }),
  );
  await client.connect();
  if (stopped) throw new Error('stopped');
  // BASE_BACKUP's option list and its CopyData format are PostgreSQL 15's.
  const version = Number(
    (await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]
      ?.server_version_num,
  );
  if (!(version >= 150000)) throw new Error(`PostgreSQL 15 or newer is needed (the server runs ${version})`);
  const stream = socketOf(client);
  const out = new PartSender((paused) => (paused ? stream.pause() : stream.resume()));
  sender = out;
  const tar = new ArchiveWriter(out);
  let first = true;
  const query = new BaseBackupQuery(baseBackupCommand(init.label, init.fastCheckpoint), {
    archive: (name, loc) => {
      if (first) post({ type: 'first' });
      first = false;
      try {
        tar.archive(name, loc);
      } catch (err) {
        // Refused: the query keeps this error; closing the connection ends the server's backup now.
        setImmediate(() => stream.destroy());
        throw err;
      }
    },
    archiveData: (chunk) => tar.archiveData(chunk),
    manifestData: (chunk) => tar.manifestData(chunk),
  });
  await submitBaseBackup(client, query);
  tar.end();
  await out.finish();
  await client.end().catch(() => {});
  post({
    type: 'end',
    bytes: out.bytes,
    found: Object.fromEntries([...out.scan.found].map(([k, v]) => [k, v.toString('utf8')])),
  });
}

main().catch((err: unknown) => {
  void client?.end().catch(() => {});
  const message = stopped ? 'stopped' : err instanceof Error ? err.message : String(err);
  post({ type: 'failed', message });
});
