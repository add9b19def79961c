/**
 * LocalStorage beyond the shared suite: the missing-folder policy, atomic visibility, temp-file
 * hygiene, and real faults (a full tmpfs, a read-only mount, a user without permission).
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  promises as fsp,
  readdirSync,
  rmdirSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { LocalStorage } from '../../src/backup/storage/local.js';
import { tempDir } from '../helpers/tmp.js';
import { withoutPermissionBypass } from '../helpers/no-dac.js';
import { asAsync, listAll, pseudoRandomChunks, storageError } from './conformance.js';

const MiB = 1024 * 1024;

describe('local storage: the repository folder', () => {
  it('a missing folder is E_STORAGE_NO_FOLDER for put, get, head and list, and probe("write") creates it', async () => {
    const root = path.join(tempDir(), 'not', 'yet');
    const s = new LocalStorage(root);
    const err = await storageError(s.put('a', Buffer.from('x')), 'E_STORAGE_NO_FOLDER');
    expect(err.message).toContain(root);
    expect(err.hint).toMatch(/mounted/);
    await storageError(s.get('a'), 'E_STORAGE_NO_FOLDER');
    await storageError(s.head('a'), 'E_STORAGE_NO_FOLDER');
    await storageError(listAll(s, ''), 'E_STORAGE_NO_FOLDER');
    await storageError(s.probe('read'), 'E_STORAGE_NO_FOLDER');
    expect(existsSync(root)).toBe(false); // nothing was created implicitly
    await s.probe();
    expect(existsSync(root)).toBe(true);
    await s.put('a', Buffer.from('x'));
    expect((await s.get('a')).toString()).toBe('x');
  });

  it('a folder that disappears (unmounted disk) is not silently recreated by put', async () => {
    const root = path.join(tempDir(), 'repo');
    const s = new LocalStorage(root);
    await s.probe();
    await s.put('data/a', Buffer.from('1'));
    await fsp.rm(root, { recursive: true });
    await storageError(s.put('data/b', Buffer.from('2')), 'E_STORAGE_NO_FOLDER');
    expect(existsSync(root)).toBe(false);
    // Reads say the folder is gone, not that objects are missing.
    await storageError(s.get('data/a'), 'E_STORAGE_NO_FOLDER');
    await storageError(s.head('data/a'), 'E_STORAGE_NO_FOLDER');
    await storageError(listAll(s, 'data/'), 'E_STORAGE_NO_FOLDER');
  });

  it('a path that is a file is a configuration error naming it', async () => {
    const file = path.join(tempDir(), 'file');
    writeFileSync(file, 'x');
    const err = await storageError(new LocalStorage(file).probe(), 'E_STORAGE_CONFIG');
    expect(err.message).toContain(file);
  });

  it('a relative path is refused', () => {
    expect(() => new LocalStorage('relative/repo')).toThrow(/not absolute/);
  });
});

describe('local storage: atomic writes and temp files', () => {
  it('readers never see a half-written object; the temp file lives in .tmp and is gone afterwards', async () => {
    const root = path.join(tempDir(), 'repo');
    const s = new LocalStorage(root);
    await s.probe();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reachedGate!: () => void;
    const atGate = new Promise<void>((r) => (reachedGate = r));
    async function* slow() {
      yield Buffer.alloc(3 * MiB, 1); // more than one write batch, so bytes hit the disk
      reachedGate();
      await gate;
      yield Buffer.alloc(MiB, 2);
    }
    const putting = s.put('data/obj', slow());
    await atGate;
    expect(await s.head('data/obj')).toBeUndefined();
    expect(await listAll(s, '')).toEqual([]);
    const temps = readdirSync(path.join(root, '.tmp'));
    expect(temps).toHaveLength(1);
    expect((await fsp.stat(path.join(root, '.tmp', temps[0]!))).size).toBeGreaterThan(0);
    release();
    await putting;
    expect((await s.head('data/obj'))?.size).toBe(4 * MiB);
    expect(readdirSync(path.join(root, '.tmp'))).toEqual([]);
  });

  it('a failed put leaves no temp file behind', async () => {
    const root = path.join(tempDir(), 'repo');
    const s = new LocalStorage(root);
    await s.probe();
    async function* failing() {
      yield Buffer.alloc(2 * MiB);
      throw new Error('source failed');
    }
    await expect(s.put('x', failing())).rejects.toThrow('source failed');
    await storageError(s.put('y', asAsync([Buffer.alloc(10)]), { size: 11 }), 'E_STORAGE_SIZE_MISMATCH');
    expect(readdirSync(path.join(root, '.tmp'))).toEqual([]);
    expect(readdirSync(root)).toEqual(['.tmp']);
  });

  it('probe("write") removes temp files older than a day, keeps fresh ones', async () => {
    const root = path.join(tempDir(), 'repo');
    const clock = new ManualClock(Date.now());
    const s = new LocalStorage(root, { clock });
    await s.probe();
    const old = path.join(root, '.tmp', 'crashed-long-ago');
    const fresh = path.join(root, '.tmp', 'in-flight');
    writeFileSync(old, 'x');
    writeFileSync(fresh, 'x');
    const twoDaysAgo = (clock.now() - 2 * 24 * 3600_000) / 1000;
    utimesSync(old, twoDaysAgo, twoDaysAgo);
    await s.probe();
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });

  it('delete removes folders it leaves empty, never the root, and keeps non-empty ones', async () => {
    const root = path.join(tempDir(), 'repo');
    const s = new LocalStorage(root);
    await s.probe();
    await s.put('data/ab/abc', Buffer.from('1'));
    await s.put('data/ab/abd', Buffer.from('2'));
    await s.put('data/cd/cde', Buffer.from('3'));
    await s.delete('data/ab/abc');
    expect(existsSync(path.join(root, 'data', 'ab'))).toBe(true);
    await s.delete('data/ab/abd');
    expect(existsSync(path.join(root, 'data', 'ab'))).toBe(false);
    await s.delete('data/cd/cde');
    expect(existsSync(path.join(root, 'data'))).toBe(false);
    expect(existsSync(root)).toBe(true);
  });

  it('puts racing with deletes in the same folder all land', async () => {
    const root = path.join(tempDir(), 'repo');
    const s = new LocalStorage(root);
    await s.probe();
    for (let round = 0; round < 20; round++) {
      await s.put('f/old', Buffer.from('x'));
      await Promise.all([s.delete('f/old'), s.put(`f/new${round}`, Buffer.from('y'))]);
      expect((await s.get(`f/new${round}`)).toString()).toBe('y');
      await s.delete(`f/new${round}`);
    }
  });

  it('a key that collides with a folder is E_STORAGE_KEY_CONFLICT', async () => {
    const s = new LocalStorage(path.join(tempDir(), 'repo'));
    await s.probe();
    await s.put('a/b', Buffer.from('1'));
    await storageError(s.put('a', Buffer.from('2')), 'E_STORAGE_KEY_CONFLICT');
    await s.put('c', Buffer.from('3'));
    await storageError(s.put('c/d', Buffer.from('4')), 'E_STORAGE_KEY_CONFLICT');
    expect((await s.get('a/b')).toString()).toBe('1');
  });

  it('ifAbsent uses an atomic link: of 20 racing writers exactly one wins', async () => {
    const s = new LocalStorage(path.join(tempDir(), 'repo'));
    await s.probe();
    expect(s.capabilities.atomicCreate).toBe(true);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => s.put('lock', Buffer.from(String(i)), { ifAbsent: true })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});

// ---- real faults, produced for real: needs root (mount, setuid) ----------------------------

const isRoot = process.getuid?.() === 0;

function mountTmpfs(dir: string, options: string): boolean {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0;
}

function canMount(): boolean {
  if (!isRoot) return false;
  const dir = path.join(tempDir('safetynet-mount-check-'), 'm');
  mkdirSync(dir);
  const ok = mountTmpfs(dir, 'size=64k');
  if (ok) spawnSync('umount', [dir]);
  rmdirSync(dir);
  return ok;
}

describe('local storage: real faults', () => {
  const mountable = canMount();

  it.skipIf(!mountable)(
    'a full disk (1 MiB tmpfs) is E_NO_SPACE with a hint; nothing partial remains; space frees up',
    async () => {
      const mnt = path.join(tempDir(), 'mnt');
      mkdirSync(mnt);
      expect(mountTmpfs(mnt, 'size=1m')).toBe(true);
      try {
        const root = path.join(mnt, 'repo');
        const s = new LocalStorage(root);
        await s.probe();
        await s.put('keep', Buffer.alloc(100 * 1024, 7));
        const err = await storageError(
          s.put('too-big', asAsync(pseudoRandomChunks(2 * MiB, 256 * 1024))),
          'E_NO_SPACE',
        );
        expect(err.message).toContain(root);
        expect(err.hint).toMatch(/free space/);
        expect(err.hint).toMatch(/backup\.repository/);
        expect(err.transient).toBe(false);
        await storageError(s.put('too-big-buffer', Buffer.alloc(2 * MiB)), 'E_NO_SPACE');
        // Nothing partial: no object, no temp file; the earlier object intact.
        expect(await s.head('too-big')).toBeUndefined();
        expect(readdirSync(path.join(root, '.tmp'))).toEqual([]);
        expect((await s.get('keep')).equals(Buffer.alloc(100 * 1024, 7))).toBe(true);
        // Fill the disk to the last byte from outside: probe("write") reports it.
        const filler = path.join(mnt, 'filler');
        const fh = await fsp.open(filler, 'w');
        await fh.write(Buffer.alloc(2 * MiB)).catch(() => undefined);
        await fh.close().catch(() => undefined);
        await storageError(s.probe(), 'E_NO_SPACE');
        // Space freed: writes work again.
        await fsp.rm(filler);
        await s.put('fits', Buffer.alloc(500 * 1024));
        expect((await s.head('fits'))?.size).toBe(500 * 1024);
      } finally {
        spawnSync('umount', ['-l', mnt]);
      }
    },
  );

  it.skipIf(!mountable)('a read-only file system is E_STORAGE_PERMISSION naming it', async () => {
    const mnt = path.join(tempDir(), 'mnt');
    mkdirSync(mnt);
    expect(mountTmpfs(mnt, 'size=1m')).toBe(true);
    try {
      const s = new LocalStorage(mnt);
      await s.probe();
      await s.put('a', Buffer.from('x'));
      expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).toBe(0);
      const err = await storageError(s.put('b', Buffer.from('y')), 'E_STORAGE_PERMISSION');
      expect(err.message).toMatch(/read-only/);
      expect(err.hint).toMatch(/remount/);
      await storageError(s.probe(), 'E_STORAGE_PERMISSION');
      expect((await s.get('a')).toString()).toBe('x'); // reads still work
    } finally {
      spawnSync('umount', ['-l', mnt]);
    }
  });

  it.skipIf(!isRoot)(
    'a process without write permission gets E_STORAGE_PERMISSION naming the folder and the uid',
    () => {
      const parent = tempDir();
      const root = path.join(parent, 'repo');
      mkdirSync(root);
      chmodSync(root, 0o555); // readable, not writable, even by its owner
      const here = path.dirname(fileURLToPath(import.meta.url));
      const tsx = createRequire(import.meta.url).resolve('tsx');
      const script = `
      const { LocalStorage } = await import(${JSON.stringify(path.join(here, '../../src/backup/storage/local.ts'))});
      const s = new LocalStorage(${JSON.stringify(root)});
      const out = {};
      for (const [name, op] of [['probe', () => s.probe()], ['put', () => s.put('a/b', Buffer.from('x'))]]) {
        try { await op(); out[name] = 'ok'; } catch (e) { out[name] = { code: e.code, message: e.message, hint: e.hint }; }
      }
      out.read = await s.probe('read').then(() => 'ok', (e) => e.code);
      console.log(JSON.stringify(out));
    `;
      // Root without the capabilities that bypass file modes (see test/helpers/no-dac.ts).
      const [cmd, argv] = withoutPermissionBypass(process.execPath, [
        '--import',
        tsx,
        '--input-type=module',
        '-e',
        script,
      ]);
      const r = spawnSync(cmd, argv, {
        encoding: 'utf8',
        env: { ...process.env, TSX_TSCONFIG_PATH: path.join(here, '../../tsconfig.json') },
        timeout: 20_000,
      });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<
        string,
        { code: string; message: string; hint: string } | string
      >;
      expect(out.read).toBe('ok');
      for (const op of ['probe', 'put'] as const) {
        const e = out[op] as { code: string; message: string; hint: string };
        expect(e.code).toBe('E_STORAGE_PERMISSION');
        expect(e.message).toContain(root);
        expect(e.hint).toContain('uid 0');
      }
    },
  );
});
