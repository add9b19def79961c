/**
 * A forged or corrupted manifest can never make a restore write outside the target: anyone with
 * the public recipients can seal objects, so these tests craft real sealed points with hostile
 * paths and check that the restore refuses them and writes nothing, inside or outside.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { restoreFiles } from '../../src/backup/sources/files/restore.js';
import { backupFiles } from '../../src/backup/sources/files/backup.js';
import { newPointId, chunkKey } from '../../src/backup/repo/layout.js';
import type { EntryRecord } from '../../src/backup/sources/files/manifest.js';
import { SafetynetError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { createFilesEnv, put, type FilesEnv } from './env.js';

let env: FilesEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const CONTENT = Buffer.from('pwned\n');

interface CraftedSet {
  name: string;
  segments: { folder: string; entries: EntryRecord[]; claimFolder?: string }[];
}

/** Writes a sealed point whose one data pack holds CONTENT and whose segments say what we like. */
async function craftPoint(e: FilesEnv, sets: (dataPack: string) => CraftedSet[]): Promise<string> {
  await e.deps.repo.prepareForWrite();
  await e.deps.repo.ensureInitialized();
  const time = e.deps.clock.now();
  const writer = e.deps.repo.beginPoint({
    id: newPointId(time),
    source: 'files',
    kind: 'files',
    time,
    parent: null,
    set: null,
  });
  const dataPack = chunkKey(randomBytes(16).toString('hex'));
  await writer.add(0, dataPack, Buffer.from(CONTENT));
  const crafted = sets(dataPack);
  const segPack = chunkKey(randomBytes(16).toString('hex'));
  const blobs: Buffer[] = [];
  let offset = 0;
  const records = crafted.map((s) => ({
    name: s.name,
    root: '/nowhere',
    include: [],
    exclude: [],
    files: 1,
    bytes: CONTENT.length,
    segments: s.segments.map((g) => {
      const bytes = Buffer.from(JSON.stringify({ folder: g.claimFolder ?? g.folder, entries: g.entries }));
      blobs.push(bytes);
      const ref = {
        folder: g.folder,
        pack: segPack,
        offset,
        length: bytes.length,
        sha256: sha(bytes),
        entries: g.entries.length,
      };
      offset += bytes.length;
      return ref;
    }),
  }));
  await writer.add(1, segPack, Buffer.concat(blobs));
  await writer.commit(
    {
      format: 1,
      id: writer.meta.id,
      source: 'files',
      kind: 'files',
      time: new Date(time).toISOString(),
      set: null,
      chunking: {},
      sets: records,
      problems: [],
      skipped: [],
      stats: {},
      durationMs: 0,
      createdBy: { host: 'evil', version: '0' },
    },
    { logicalBytes: CONTENT.length, summary: { sets: crafted.map((s) => s.name).join(',') } },
  );
  return writer.meta.id;
}

const file = (
  p: string,
  pack: string,
  extra: Partial<{ offset: number; length: number }> = {},
): EntryRecord => ({
  path: p,
  type: 'file',
  size: extra.length ?? CONTENT.length,
  mode: 0o644,
  mtimeMs: 1_700_000_000_000,
  sha256: sha(CONTENT),
  blobs: [{ pack, offset: extra.offset ?? 0, length: extra.length ?? CONTENT.length }],
});

async function refusal(e: FilesEnv, to: string, force = false, pointId?: string): Promise<SafetynetError> {
  try {
    await restoreFiles(e.deps, { to, force, ...(pointId ? { pointId } : {}) });
  } catch (err) {
    return err as SafetynetError;
  }
  throw new Error('the restore was expected to be refused');
}

describe('restores never write outside the target, whatever the manifest says', () => {
  const cases: [string, (pack: string) => CraftedSet[]][] = [
    [
      'a ".." path',
      (p) => [{ name: 'images', segments: [{ folder: '', entries: [file('../../escape.txt', p)] }] }],
    ],
    [
      'an absolute path',
      (p) => [{ name: 'images', segments: [{ folder: '', entries: [file('/tmp/escape.txt', p)] }] }],
    ],
    [
      'a ".." folder',
      (p) => [{ name: 'images', segments: [{ folder: '..', entries: [file('../escape.txt', p)] }] }],
    ],
    [
      'a set named ".."',
      (p) => [{ name: '..', segments: [{ folder: '', entries: [file('escape.txt', p)] }] }],
    ],
    [
      'a set name with a slash',
      (p) => [{ name: 'a/../..', segments: [{ folder: '', entries: [file('escape.txt', p)] }] }],
    ],
    [
      'an entry outside its segment folder',
      (p) => [{ name: 'images', segments: [{ folder: 'x', entries: [file('y/escape.txt', p)] }] }],
    ],
    [
      'a segment claiming another folder',
      (p) => [
        {
          name: 'images',
          segments: [{ folder: 'x', claimFolder: '..', entries: [file('x/escape.txt', p)] }],
        },
      ],
    ],
    [
      'a link used as a folder (write-through)',
      (p) => [
        {
          name: 'images',
          segments: [
            { folder: '', entries: [{ path: 'a', type: 'symlink', target: '/tmp', mtimeMs: 1 }] },
            { folder: 'a', entries: [file('a/escape.txt', p)] },
          ],
        },
      ],
    ],
    [
      'a blob in a pack the catalog entry does not list',
      () => [
        { name: 'images', segments: [{ folder: '', entries: [file('ok.txt', chunkKey('ab'.repeat(16)))] }] },
      ],
    ],
    [
      'a path listed twice',
      (p) => [
        { name: 'images', segments: [{ folder: '', entries: [file('twice.txt', p), file('twice.txt', p)] }] },
      ],
    ],
  ];
  // One repository holds every crafted point; each case restores its own.
  let shared: FilesEnv | undefined;
  afterAll(async () => shared?.close());
  for (const [what, sets] of cases) {
    it(`refuses ${what} and writes nothing`, async () => {
      shared ??= await createFilesEnv({ keepDir: true });
      const id = await craftPoint(shared, sets);
      const to = path.join(shared.dir, `target-${id}`);
      const err = await refusal(shared, to, false, id);
      expect(err.code).toBe('E_MANIFEST_INVALID');
      expect(err.exitCode).toBe(1);
      expect(existsSync(to) ? readdirSync(to) : []).toEqual([]);
      expect(existsSync(path.join(shared.dir, 'escape.txt'))).toBe(false);
      expect(existsSync('/tmp/escape.txt')).toBe(false);
    });
  }

  it('fails a file whose blob lies outside its pack, writing nothing for it', async () => {
    env = await createFilesEnv();
    await craftPoint(env, (p) => [
      {
        name: 'images',
        segments: [{ folder: '', entries: [file('big.txt', p, { offset: 1000, length: 6 })] }],
      },
    ]);
    const to = path.join(env.dir, 'target');
    const r = await restoreFiles(env.deps, { to });
    expect(r.failures).toEqual([
      { set: 'images', path: 'big.txt', message: expect.stringContaining('outside pack') },
    ]);
    expect(existsSync(path.join(to, 'images/big.txt'))).toBe(false);
  });

  it('refuses to write through a link already in the target, even with --force', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'images/sub/p.jpg'), 'legit');
    await backupFiles(env.deps);
    const outside = tempDir('safetynet-outside-');
    const to = path.join(env.dir, 'target');
    mkdirSync(path.join(to, 'images'), { recursive: true });
    symlinkSync(outside, path.join(to, 'images/sub'));
    const err = await refusal(env, to, true);
    expect(err.code).toBe('E_RESTORE_UNSAFE_PATH');
    expect(readdirSync(outside)).toEqual([]);
  });
});
