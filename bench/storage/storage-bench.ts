/**
 * Storage layer throughput, each against a peer in the same run (median of --runs):
 *
 *   A. LocalStorage.put of a streamed file (temp + fsync + rename + dir fsync) vs
 *      `dd bs=1M conv=fsync` (the same user-space read + write + fsync; `cp` copies in the kernel).
 *   B. LocalStorage.getStream of that object vs `dd bs=1M of=/dev/null` (both from the page cache).
 *   Every timed step starts after an untimed `sync`, so earlier writes' flushing is not billed to it.
 *   C. S3Storage.put of a streamed body to s3rver on loopback vs lib-storage's Upload called directly
 *      with SDK defaults (shows the cost of our layer, not of the server, which dominates).
 *
 *   npx tsx bench/storage/storage-bench.ts [--mib 1024] [--s3-mib 256] [--runs 3]
 *
 * Scratch data goes to bench/.data/storage/ and is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { LocalStorage, createStorage } from '../../src/backup/storage/index.js';
import { startS3Server } from '../../test/helpers/s3.js';
import { appendResults, printTable, timed, type Comparison } from '../lib/report.js';

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '1024' },
    's3-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
  },
});
const MiB = 1024 * 1024;
const localBytes = Number(args.mib) * MiB;
const s3Bytes = Number(args['s3-mib']) * MiB;
const runs = Math.max(1, Number(args.runs));
const here = path.dirname(fileURLToPath(import.meta.url));
const scratch = path.join(here, '..', '.data', 'storage');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Writes `bytes` of incompressible data (xorshift) to `file`. */
function makeSource(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const buf = Buffer.allocUnsafe(4 * MiB);
  let x = 12345;
  for (let done = 0; done < bytes; done += buf.length) {
    for (let i = 0; i < buf.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf.writeUInt32LE(x >>> 0, i);
    }
    writeSync(fd, buf, 0, Math.min(buf.length, bytes - done));
  }
  closeSync(fd);
}

function sh(cmd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
}

async function main(): Promise<void> {
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const src = path.join(scratch, 'source.bin');
  makeSource(src, Math.max(localBytes, s3Bytes));
  const localSrc = path.join(scratch, 'local-source.bin');
  sh(`head -c ${localBytes} ${src} > ${localSrc}`);
  const rows: Comparison[] = [];
  try {
    // A + B: local folder.
    const repo = new LocalStorage(path.join(scratch, 'repo'));
    await repo.probe();
    const putOurs: number[] = [];
    const putPeer: number[] = [];
    const readOurs: number[] = [];
    const readPeer: number[] = [];
    for (let i = 0; i < runs; i++) {
      const peerDst = path.join(scratch, 'peer.bin');
      sh('sync');
      putPeer.push(
        (await timed(() => sh(`dd if=${localSrc} of=${peerDst} bs=1M conv=fsync status=none`))).ms,
      );
      rmSync(peerDst, { force: true });
      sh('sync');
      putOurs.push(
        (
          await timed(() =>
            repo.put('data/big', createReadStream(localSrc, { highWaterMark: MiB }), {
              size: localBytes,
            }),
          )
        ).ms,
      );
      sh('sync');
      readPeer.push(
        (
          await timed(() =>
            sh(`dd if=${path.join(scratch, 'repo', 'data', 'big')} of=/dev/null bs=1M status=none`),
          )
        ).ms,
      );
      readOurs.push(
        (
          await timed(async () => {
            let n = 0;
            for await (const c of await repo.getStream('data/big')) n += c.length;
            if (n !== localBytes) throw new Error('short read');
          })
        ).ms,
      );
      await repo.delete('data/big');
    }
    rows.push(
      {
        metric: `local put ${args.mib} MiB (fsync)`,
        unit: 'ms',
        ours: median(putOurs),
        peer: median(putPeer),
        peerName: 'dd bs=1M conv=fsync',
      },
      {
        metric: `local read ${args.mib} MiB (cached)`,
        unit: 'ms',
        ours: median(readOurs),
        peer: median(readPeer),
        peerName: 'dd bs=1M of=/dev/null',
      },
    );

    // C: S3 through s3rver.
    const server = await startS3Server({ bucket: 'bench' });
    try {
      const storage = createStorage(server.config('ours'), server.env);
      await storage.probe();
      const client = new S3Client({
        endpoint: server.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      const s3Ours: number[] = [];
      const s3Peer: number[] = [];
      for (let i = 0; i < runs; i++) {
        s3Peer.push(
          (
            await timed(() =>
              new Upload({
                client,
                params: {
                  Bucket: 'bench',
                  Key: 'peer/big',
                  Body: Readable.from(createReadStream(src, { end: s3Bytes - 1, highWaterMark: MiB })),
                },
                partSize: 16 * MiB,
              }).done(),
            )
          ).ms,
        );
        s3Ours.push(
          (
            await timed(() =>
              storage.put('big', createReadStream(src, { end: s3Bytes - 1, highWaterMark: MiB })),
            )
          ).ms,
        );
      }
      client.destroy();
      await storage.close();
      rows.push({
        metric: `s3rver put ${args['s3-mib']} MiB (multipart)`,
        unit: 'ms',
        ours: median(s3Ours),
        peer: median(s3Peer),
        peerName: 'lib-storage Upload, SDK defaults',
      });
    } finally {
      await server.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  printTable(`storage (median of ${runs})`, rows);
  appendResults('storage', rows, { localBytes, s3Bytes, runs });
}

await main();
