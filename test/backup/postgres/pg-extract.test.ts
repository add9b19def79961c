/**
 * The restore's own tar reading and its worker-thread extraction, without a PostgreSQL server:
 * a real ustar archive (GNU tar, the format pg_basebackup writes) cut into parts at every kind of
 * boundary — inside a header, inside a file, on the padding — must give back every file; what a
 * base backup never holds (links, paths leaving the folder, a damaged header, a stream cut short)
 * is refused; and a WAL piece that the stream replaced by the closed segment while a restore was
 * starting is read from that segment.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import {
  checkTarEnd,
  initialTarState,
  planPart,
  type TarOp,
} from '../../../src/backup/sources/postgres/tar-plan.js';
import { extractInWorkers } from '../../../src/backup/sources/postgres/extract-pool.js';
import { recoveryLogPhases } from '../../../src/backup/sources/postgres/recovery-log.js';
import { pieceKey, segmentKey } from '../../../src/backup/sources/postgres/wal.js';
import type { PartRecord } from '../../../src/backup/repo/types.js';
import { useTestEnvs } from '../env.js';

const env = useTestEnvs();

/** A folder shaped like a data directory, and its ustar archive. */
function sampleArchive(): { dir: string; tar: Buffer; files: Map<string, Buffer> } {
  const root = tempDir('pg-extract-src-');
  const dir = path.join(root, 'data');
  const files = new Map<string, Buffer>();
  const add = (rel: string, data: Buffer) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
    files.set(rel, data);
  };
  let seed = 7;
  const bytes = (n: number) =>
    Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff));
  add('PG_VERSION', Buffer.from('15\n'));
  add('backup_label', Buffer.from('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n'));
  add('global/pg_control', bytes(8192));
  add('base/1/1259', bytes(3 * 8192 + 17));
  add('base/1/empty', Buffer.alloc(0));
  add('base/1/one', bytes(1));
  add('base/1/511', bytes(511));
  add('base/1/512', bytes(512));
  add('base/1/513', bytes(513));
  add('base/16384/2619', bytes(300_000));
  mkdirSync(path.join(dir, 'pg_wal'), { recursive: true });
  const tar = execFileSync('tar', ['--format=ustar', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
  return { dir, tar, files };
}

/** Plays the plan of `tar` cut at `cuts` into memory: files by path, directories made. */
function play(tar: Buffer, cuts: number[]): { files: Map<string, Buffer>; dirs: Set<string> } {
  const files = new Map<string, Buffer>();
  const dirs = new Set<string>();
  let state = initialTarState();
  const bounds = [0, ...cuts, tar.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const part = tar.subarray(bounds[i], bounds[i + 1]);
    const r = planPart(state, part);
    state = r.state;
    for (const op of r.ops as TarOp[]) {
      if (op.op === 'mkdir') dirs.add(op.rel);
      else {
        const cur = files.get(op.rel) ?? Buffer.alloc(0);
        const data = part.subarray(op.from, op.to);
        const next = Buffer.alloc(Math.max(cur.length, op.position + data.length));
        cur.copy(next);
        data.copy(next, op.position);
        files.set(op.rel, next);
      }
    }
  }
  checkTarEnd(state);
  return { files, dirs };
}

describe('reading a base backup tar part by part', () => {
  it('gives back every file whatever the part boundaries (inside headers, files and padding)', () => {
    const { tar, files } = sampleArchive();
    const cutSets: number[][] = [
      [],
      [1],
      [511, 512, 513],
      Array.from({ length: Math.floor(tar.length / 1000) }, (_, i) => (i + 1) * 1000),
      Array.from({ length: Math.floor(tar.length / 8191) }, (_, i) => (i + 1) * 8191),
      Array.from({ length: 300 }, (_, i) => 100 + i), // one-byte parts across the first header
    ];
    for (const cuts of cutSets) {
      const { files: got } = play(tar, cuts);
      expect([...got.keys()].sort()).toEqual([...files.keys()].sort());
      for (const [rel, data] of files)
        expect(got.get(rel)!.equals(data), `${rel} with ${cuts.length} cuts`).toBe(true);
    }
  });

  it('refuses links, paths leaving the folder, a damaged header and a stream cut short', () => {
    const { dir, tar } = sampleArchive();
    symlinkSync('/etc/passwd', path.join(dir, 'base', 'link'));
    const withLink = execFileSync('tar', ['--format=ustar', '-C', dir, '-cf', '-', '.'], {
      maxBuffer: 1 << 26,
    });
    expect(() => play(withLink, [])).toThrow(/tar type '2'/);

    // A member named ../escape (GNU tar strips it, so the header is written here).
    const evil = Buffer.from(tar);
    evil.write('../escape'.padEnd(100, '\0'), 0, 100, 'latin1');
    fixChecksum(evil, 0);
    expect(() => play(evil, [])).toThrow(/outside its folder/);

    const damaged = Buffer.from(tar);
    damaged[0] = damaged[0]! ^ 1;
    expect(() => play(damaged, [])).toThrow(/wrong checksum/);

    expect(() => play(tar.subarray(0, tar.length >> 1), [])).toThrow(/ends/);
  });
});

describe('extraction on worker threads', () => {
  it('writes a tar from sealed parts, and reads a WAL piece from its closed segment once the pieces are gone', async () => {
    const e = await env({ rows: 0 });
    const repo = e.deps.repo;
    await repo.prepareForWrite();
    await repo.ensureInitialized();
    const { tar, files } = sampleArchive();
    const pool = repo.sealPool();
    const parts: PartRecord[] = [];
    const PART = 100_000; // many parts, boundaries everywhere
    for (let off = 0, i = 0; off < tar.length; off += PART, i++) {
      const plain = Buffer.from(tar.subarray(off, off + PART));
      const { sealed, sealedSha256 } = await pool.seal(plain);
      const key = `data/test-point/${String(i).padStart(6, '0')}.age`;
      await repo.storage.put(key, sealed);
      parts.push({
        key,
        plainBytes: plain.length,
        plainSha256: '',
        sealedBytes: sealed.length,
        sealedSha256,
      });
    }
    // The open segment was listed with one piece; the stream then stored the whole segment and
    // deleted the piece before the restore fetched it.
    const seg = '000000010000000000000005';
    const segment = Buffer.alloc(64 * 1024, 0x5a);
    await repo.storage.put(segmentKey(seg), (await pool.seal(segment)).sealed);
    const target = path.join(e.dir, 'restored');
    mkdirSync(path.join(target, 'pg_wal'), { recursive: true });
    await extractInWorkers(repo, target, 'test-point', parts, [
      {
        path: path.join(target, 'pg_wal', seg),
        size: segment.length,
        pieces: [{ key: pieceKey(seg, 0, 8192), start: 0 }],
        closedKey: segmentKey(seg),
      },
    ]);
    for (const [rel, data] of files)
      expect(readFileSync(path.join(target, rel)).equals(data), rel).toBe(true);
    expect(statSync(path.join(target, 'pg_wal')).isDirectory()).toBe(true);
    expect(readFileSync(path.join(target, 'pg_wal', seg)).equals(segment)).toBe(true);
    expect(readdirSync(path.join(target, 'base', '1')).sort()).toEqual([
      '1259',
      '511',
      '512',
      '513',
      'empty',
      'one',
    ]);

    // A part whose stored bytes changed is refused by name.
    const bad = path.join(repo.storage.localPath!, parts[1]!.key);
    const b = readFileSync(bad);
    b[b.length >> 1] = b[b.length >> 1]! ^ 0x10;
    writeFileSync(bad, b);
    const again = path.join(e.dir, 'again');
    mkdirSync(again);
    await expect(extractInWorkers(repo, again, 'test-point', parts, [])).rejects.toThrow(parts[1]!.key);
  });
});

/** Rewrites a ustar header's checksum after an edit. */
function fixChecksum(tar: Buffer, at: number): void {
  const h = tar.subarray(at, at + 512);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
}

describe("a restored server's own log", () => {
  it('gives the phases of its start: replay, end of recovery, the end-of-recovery checkpoint, opening', () => {
    const log = [
      '2026-12-07 14:31:30.653 UTC [26123] LOG:  starting PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu',
      '2026-12-07 14:31:30.654 UTC [26123] LOG:  listening on IPv4 address "127.0.0.1", port 41999',
      '2026-12-07 14:31:30.666 UTC [26126] LOG:  starting point-in-time recovery to 2026-12-07 14:19:49.399+00',
      '2026-12-07 14:31:30.683 UTC [26126] LOG:  redo starts at 0/B1000028',
      '2026-12-07 14:31:30.694 UTC [26126] LOG:  redo done at 0/B3000028 system usage: CPU: user: 0.00 s',
      '2026-12-07 14:31:30.700 UTC [26126] LOG:  selected new timeline ID: 2',
      '2026-12-07 14:31:30.772 UTC [26124] LOG:  checkpoint starting: end-of-recovery immediate wait',
      '2026-12-07 14:31:30.775 UTC [26124] LOG:  checkpoint complete: wrote 7 buffers (0.0%)',
      '2026-12-07 14:31:30.807 UTC [26123] LOG:  database system is ready to accept connections',
      '2026-12-07 14:36:30.807 UTC [26124] LOG:  checkpoint starting: time',
    ].join('\n');
    expect(recoveryLogPhases(log)).toEqual({
      pgStartupMs: 30,
      pgRedoMs: 11,
      pgEndRecoveryMs: 78,
      pgCheckpointMs: 3,
      pgOpenMs: 32,
    });
    expect(recoveryLogPhases('LOG:  redo starts at 0/1\nsomething else')).toEqual({});
  });
});
