/**
 * File backups against a real local repository: round trip, dedup, incremental, problems while
 * reading, links, special files, overwrite rules, single files, points in time, cache loss.
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { backupFiles } from '../../src/backup/sources/files/backup.js';
import { checkFilesPoint, restoreFiles } from '../../src/backup/sources/files/restore.js';
import { loadFilesPoint } from '../../src/backup/sources/files/point-reader.js';
import { verifyFilesPoints } from '../../src/backup/sources/files/verify.js';
import { SafetynetError } from '../../src/errors.js';
import { SqliteLogStore } from '../../src/log/index.js';
import { tempDir } from '../helpers/tmp.js';
import { bytes, createFilesEnv, put, type FilesEnv } from './env.js';

let env: FilesEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** Bytes this process has read through read(2) and friends so far (Linux). */
function rchar(): number {
  const m = /rchar:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m![1]);
}

async function chunkKeys(e: FilesEnv): Promise<string[]> {
  const out: string[] = [];
  for await (const o of e.deps.repo.storage.list('chunks/')) out.push(o.key);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<SafetynetError> {
  try {
    await p;
  } catch (err) {
    return err as SafetynetError;
  }
  throw new Error('expected a rejection');
}

describe('files backup and restore (local repository)', () => {
  it('restores content, modes, mtimes, folders, links and empty and multi-blob files, verifying every SHA-256', async () => {
    env = await createFilesEnv();
    const inv = path.join(env.shop, 'invoices');
    const img = path.join(env.shop, 'images');
    put(path.join(inv, '2025/INV-000001.pdf'), '%PDF-1.4 invoice one\n', 1_735_689_600.25);
    put(path.join(inv, '2025/INV-000002.pdf'), '%PDF-1.4 invoice two\n');
    chmodSync(path.join(inv, '2025/INV-000002.pdf'), 0o600);
    put(path.join(inv, 'empty.txt'), '');
    put(path.join(img, 'a/x.jpg'), bytes(1, 100_000));
    put(path.join(img, 'big.bin'), bytes(2, 3_000_000));
    chmodSync(path.join(img, 'a'), 0o750);
    utimesSync(path.join(img, 'a'), 1_700_000_000, 1_700_000_000);
    symlinkSync('a/x.jpg', path.join(img, 'link.jpg'));
    // Links pointing outside the set are stored as links, never followed.
    const outside = tempDir('safetynet-outside-');
    writeFileSync(path.join(outside, 'secret.txt'), 'not part of any set');
    symlinkSync(outside, path.join(img, 'outside-dir'));
    symlinkSync(path.join(outside, 'secret.txt'), path.join(img, 'outside-file'));

    const r = await backupFiles(env.deps);
    expect(r.problems).toEqual([]);
    expect(r.entry.incomplete).toBeUndefined();
    expect(r.entry.kind).toBe('files');
    expect(r.entry.source).toBe('files');
    expect(r.stats.files).toBe(5);
    expect(r.stats.symlinks).toBe(3);
    expect(r.stats.bytes).toBe(42 + 100_000 + 3_000_000);
    // Catalog entries carry no shop data: no file names.
    const catalog = JSON.stringify(r.entry);
    expect(catalog).not.toContain('INV-000001');
    expect(catalog).not.toContain('x.jpg');

    const to = path.join(env.dir, 'restored');
    const rr = await restoreFiles(env.deps, { to });
    expect(rr.failures).toEqual([]);
    expect(rr.verified).toBe(5);
    expect(rr.files).toBe(5);
    const same = (rel: string, set = 'images') => {
      const a = path.join(env!.shop, set, rel);
      const b = path.join(to, set, rel);
      expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
      expect(statSync(b).mode & 0o777).toBe(statSync(a).mode & 0o777);
      expect(statSync(b).mtimeMs).toBeCloseTo(statSync(a).mtimeMs, 2);
    };
    same('2025/INV-000001.pdf', 'invoices');
    same('2025/INV-000002.pdf', 'invoices');
    same('empty.txt', 'invoices');
    same('a/x.jpg');
    same('big.bin');
    expect(statSync(path.join(to, 'invoices/2025/INV-000001.pdf')).mtimeMs).toBeCloseTo(1_735_689_600_250, 2);
    expect(statSync(path.join(to, 'invoices/2025/INV-000002.pdf')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(to, 'images/a')).mode & 0o777).toBe(0o750);
    expect(statSync(path.join(to, 'images/a')).mtimeMs).toBe(1_700_000_000_000);
    expect(lstatSync(path.join(to, 'images/link.jpg')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(to, 'images/link.jpg'))).toBe('a/x.jpg');
    expect(readlinkSync(path.join(to, 'images/outside-dir'))).toBe(outside);
    expect(readlinkSync(path.join(to, 'images/outside-file'))).toBe(path.join(outside, 'secret.txt'));
    // The big file was split into several blobs.
    const point = await loadFilesPoint(env.deps.repo, r.entry);
    const big = point.sets.find((s) => s.record.name === 'images')!.entries.find((e) => e.path === 'big.bin');
    expect(big?.type === 'file' && big.blobs.length).toBeGreaterThan(1);
    // Every backup and restore wrote a `backup` entry to the log store.
    await env.logger.flush();
    const store = SqliteLogStore.open(env.config.logs.store.path);
    const log = await store.search({ categories: ['backup'] });
    await store.close();
    const messages = log.entries.map((e) => e.message).join('\n');
    expect(messages).toContain(`files backup ${r.entry.id}`);
    expect(messages).toContain('files restore to');
  });

  it('stores a copied or renamed file no second time, and packs many files into few objects', async () => {
    env = await createFilesEnv();
    for (let i = 0; i < 300; i++) put(path.join(env.shop, 'images', `p${i}.jpg`), bytes(100 + i, 5_000));
    const first = await backupFiles(env.deps);
    const packsAfterFirst = await chunkKeys(env);
    expect(packsAfterFirst.length).toBeLessThanOrEqual(3); // 300 files, 1.5 MB: one data pack + one segment pack
    copyFileSync(path.join(env.shop, 'images/p1.jpg'), path.join(env.shop, 'images/copy.jpg'));
    renameSync(path.join(env.shop, 'images/p2.jpg'), path.join(env.shop, 'images/renamed.jpg'));
    mkdirSync(path.join(env.shop, 'invoices/moved'));
    renameSync(path.join(env.shop, 'images/p3.jpg'), path.join(env.shop, 'invoices/moved/p3.jpg'));
    const second = await backupFiles(env.deps);
    expect(second.stats.filesRead).toBe(3);
    expect(second.stats.bytesDeduplicated).toBe(15_000);
    // Only file lists changed (the images folder's, and the new folder's): no file content.
    expect(second.stats.blobsNew).toBe(0);
    expect(second.stats.packsNew).toBe(0);
    expect(second.stats.segmentsNew).toBe(3); // images/, invoices/ (new folder entry) and invoices/moved/
    expect(second.stats.segmentPacksNew).toBe(1);
    const to = path.join(env.dir, 'r');
    await restoreFiles(env.deps, { to });
    expect(readFileSync(path.join(to, 'images/copy.jpg')).equals(bytes(101, 5_000))).toBe(true);
    expect(readFileSync(path.join(to, 'images/renamed.jpg')).equals(bytes(102, 5_000))).toBe(true);
    expect(readFileSync(path.join(to, 'invoices/moved/p3.jpg')).equals(bytes(103, 5_000))).toBe(true);
    expect(first.entry.objects.length).toBeLessThanOrEqual(3);
  });

  it('does not read unchanged files again, and stores a nothing-changed point in a few kB', async () => {
    env = await createFilesEnv();
    for (let i = 0; i < 400; i++)
      put(path.join(env.shop, 'invoices', `d${i % 4}`, `INV-${i}.pdf`), bytes(i, 20_000));
    const first = await backupFiles(env.deps);
    expect(first.stats.filesRead).toBe(400);
    const before = rchar();
    const second = await backupFiles(env.deps);
    const read = rchar() - before;
    expect(second.stats.filesRead).toBe(0);
    expect(second.stats.filesUnchanged).toBe(400);
    // The tree is 8 MB; the second run read only its cache, catalog and key (measured by the kernel).
    expect(read).toBeLessThan(1_000_000);
    expect(second.entry.storedBytes).toBeLessThan(4_000);
    expect(second.entry.objects.map((o) => o.key).sort()).toEqual(
      first.entry.objects.map((o) => o.key).sort(),
    );

    // Same size, same mtime, new content: the changed ctime gives it away.
    const file = path.join(env.shop, 'invoices/d1/INV-1.pdf');
    const st = statSync(file);
    writeFileSync(file, bytes(9999, 20_000));
    utimesSync(file, st.atime, st.mtime);
    const third = await backupFiles(env.deps);
    expect(third.stats.filesRead).toBe(1);
    const to = path.join(env.dir, 'r');
    await restoreFiles(env.deps, { to, paths: ['d1/INV-1.pdf'] });
    expect(readFileSync(path.join(to, 'invoices/d1/INV-1.pdf')).equals(bytes(9999, 20_000))).toBe(true);
  });

  it('reports files that change while read or vanish by name, finishes, marks the point incomplete and keeps previous versions', async () => {
    env = await createFilesEnv();
    const dir = path.join(env.shop, 'invoices');
    put(path.join(dir, 'stable.pdf'), 'stable');
    put(path.join(dir, 'busy.pdf'), 'busy v1');
    put(path.join(dir, 'growing.log'), bytes(5, 600_000)); // above the chunking threshold
    put(path.join(dir, 'doomed.pdf'), 'doomed');
    await backupFiles(env.deps);
    put(path.join(dir, 'busy.pdf'), 'busy v2', 1_760_000_000);
    put(path.join(dir, 'growing.log'), bytes(6, 600_000), 1_760_000_000);
    put(path.join(dir, 'doomed.pdf'), 'doomed v2', 1_760_000_000);
    put(path.join(dir, 'new.pdf'), 'new and busy');

    const r = await backupFiles(env.deps, {
      hooks: {
        beforeOpen(abs) {
          if (abs.endsWith('doomed.pdf')) unlinkSync(abs);
        },
        afterRead(abs) {
          if (abs.endsWith('busy.pdf') || abs.endsWith('new.pdf') || abs.endsWith('growing.log'))
            appendFileSync(abs, ' more');
        },
      },
    });
    expect(r.entry.incomplete).toBe(true);
    expect(r.problems.map((p) => [p.path, p.problem, Boolean(p.previousVersionKept)])).toEqual([
      ['busy.pdf', 'changed', true],
      ['doomed.pdf', 'vanished', false],
      ['growing.log', 'changed', true],
      ['new.pdf', 'changed', false],
    ]);
    const point = await loadFilesPoint(env.deps.repo, r.entry);
    expect(point.manifest.problems).toHaveLength(4);
    const paths = point.sets.find((s) => s.record.name === 'invoices')!.entries.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['stable.pdf', 'busy.pdf', 'growing.log']));
    expect(paths).not.toContain('doomed.pdf');
    expect(paths).not.toContain('new.pdf');
    const to = path.join(env.dir, 'r');
    const rr = await restoreFiles(env.deps, { to });
    expect(rr.points[0]!.incomplete).toBe(true);
    expect(readFileSync(path.join(to, 'invoices/busy.pdf'), 'utf8')).toBe('busy v1');
    expect(readFileSync(path.join(to, 'invoices/growing.log')).equals(bytes(5, 600_000))).toBe(true);
    // The next run, with the files quiet again, is complete.
    const next = await backupFiles(env.deps);
    expect(next.problems).toEqual([]);
    expect(next.entry.incomplete).toBeUndefined();
  });

  it('leaves no visible point when the repository fails mid-run, and the next run succeeds', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'images/first.jpg'), bytes(1, 10_000));
    await backupFiles(env.deps);
    for (let i = 0; i < 20; i++) put(path.join(env.shop, 'images', `new${i}.jpg`), bytes(10 + i, 1_000_000));
    const repoDir = path.join(env.dir, 'data/backups');
    const err = await rejection(
      backupFiles(env.deps, {
        hooks: {
          // The repository's disk goes away after the first pack was stored, before the rest.
          afterRead(abs) {
            if (abs.endsWith('new9.jpg')) renameSync(repoDir, `${repoDir}.away`);
          },
        },
      }),
    );
    expect(err.code).toBe('E_STORAGE_NO_FOLDER');
    renameSync(`${repoDir}.away`, repoDir);
    // The failed run could not remove its lock either. A later process sees it as the stale lock
    // of a dead process and removes it; this test is that same process, so it removes it by hand.
    for await (const o of env.deps.repo.storage.list('locks/')) await env.deps.repo.storage.delete(o.key);
    expect(await env.deps.repo.listPoints()).toHaveLength(1);
    const next = await backupFiles(env.deps);
    expect(next.stats.filesRead).toBe(20); // the failed run taught the cache nothing
    expect(await env.deps.repo.listPoints()).toHaveLength(2);
    const rr = await restoreFiles(env.deps, { to: path.join(env.dir, 'r') });
    expect(rr.verified).toBe(21);
    const store = SqliteLogStore.open(env.config.logs.store.path);
    const log = await store.search({ categories: ['backup'], level: 'error' });
    await store.close();
    expect(log.entries.map((e) => e.message)).toContain('files backup failed; no restore point was written');
  });

  it('skips special files (a FIFO) with a note and does not hang on them', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'images/a.jpg'), 'a');
    execFileSync('mkfifo', [path.join(env.shop, 'images/pipe')]);
    const r = await backupFiles(env.deps);
    expect(r.problems).toEqual([]);
    expect(r.skipped).toEqual([{ set: 'images', path: 'pipe', reason: expect.stringContaining('FIFO') }]);
    expect(r.stats.files).toBe(1);
  });

  it('refuses to overwrite without force, replaces with force, and never touches what it refused', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'invoices/a.pdf'), 'original');
    put(path.join(env.shop, 'invoices/b.pdf'), 'bee');
    await backupFiles(env.deps);
    const to = path.join(env.dir, 'r');
    await restoreFiles(env.deps, { to });
    writeFileSync(path.join(to, 'invoices/a.pdf'), 'edited after restore');
    rmSync(path.join(to, 'invoices/b.pdf'));
    const err = await rejection(restoreFiles(env.deps, { to }));
    expect(err.code).toBe('E_RESTORE_EXISTS');
    expect(err.message).toContain('a.pdf');
    expect(err.hint).toContain('--force');
    expect(readFileSync(path.join(to, 'invoices/a.pdf'), 'utf8')).toBe('edited after restore');
    expect(existsSync(path.join(to, 'invoices/b.pdf'))).toBe(false); // nothing was written
    const forced = await restoreFiles(env.deps, { to, force: true });
    expect(forced.failures).toEqual([]);
    expect(readFileSync(path.join(to, 'invoices/a.pdf'), 'utf8')).toBe('original');
    expect(readFileSync(path.join(to, 'invoices/b.pdf'), 'utf8')).toBe('bee');
    // A folder where a file must go is refused even with force.
    rmSync(path.join(to, 'invoices/a.pdf'));
    mkdirSync(path.join(to, 'invoices/a.pdf'));
    expect((await rejection(restoreFiles(env.deps, { to, force: true }))).code).toBe('E_RESTORE_EXISTS');
  });

  it('restores single files by --path (relative to the set or with its name) and one set with --set', async () => {
    env = await createFilesEnv();
    for (let i = 1; i <= 30; i++)
      put(
        path.join(env.shop, 'invoices', i <= 15 ? '2025' : '2026', `INV-${String(i).padStart(6, '0')}.pdf`),
        `invoice ${i}`,
      );
    put(path.join(env.shop, 'images/p.jpg'), 'image');
    await backupFiles(env.deps);
    const one = path.join(env.dir, 'one');
    const r = await restoreFiles(env.deps, { to: one, paths: ['2026/INV-000023.pdf'] });
    expect(r.files).toBe(1);
    expect(readFileSync(path.join(one, 'invoices/2026/INV-000023.pdf'), 'utf8')).toBe('invoice 23');
    expect(execFileSync('find', [one, '-type', 'f']).toString().trim().split('\n')).toHaveLength(1);
    const two = path.join(env.dir, 'two');
    const r2 = await restoreFiles(env.deps, { to: two, paths: ['invoices/2025/INV-00000[12].pdf'] });
    expect(r2.files).toBe(2);
    const three = path.join(env.dir, 'three');
    const r3 = await restoreFiles(env.deps, { to: three, set: 'images' });
    expect(r3.files).toBe(1);
    expect(existsSync(path.join(three, 'invoices'))).toBe(false);
    expect(
      (await rejection(restoreFiles(env.deps, { to: path.join(env.dir, 'x'), paths: ['nope.pdf'] }))).code,
    ).toBe('E_NOTHING_TO_RESTORE');
    expect((await rejection(restoreFiles(env.deps, { to: path.join(env.dir, 'x'), set: 'nope' }))).code).toBe(
      'E_UNKNOWN_FILE_SET',
    );
  });

  it('restores as of a time: per set, the newest point at or before it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 3, 30));
    env = await createFilesEnv({ clock });
    const file = path.join(env.shop, 'invoices/INV-1.pdf');
    put(file, 'version 1');
    put(path.join(env.shop, 'images/p.jpg'), 'image 1');
    await backupFiles(env.deps);
    clock.advance(24 * 3600_000);
    put(file, 'version 2', 1_770_000_000);
    await backupFiles(env.deps, { sets: ['invoices'] }); // only one set this time
    clock.advance(3600_000);
    const to = path.join(env.dir, 'r1');
    const r = await restoreFiles(env.deps, { to, at: Date.UTC(2026, 5, 1, 12) });
    expect(readFileSync(path.join(to, 'invoices/INV-1.pdf'), 'utf8')).toBe('version 1');
    const latest = path.join(env.dir, 'r2');
    const r2 = await restoreFiles(env.deps, { to: latest });
    expect(readFileSync(path.join(latest, 'invoices/INV-1.pdf'), 'utf8')).toBe('version 2');
    expect(readFileSync(path.join(latest, 'images/p.jpg'), 'utf8')).toBe('image 1'); // from the older point
    expect(r2.points).toHaveLength(2);
    expect(r.points).toHaveLength(1);
    expect(
      (await rejection(restoreFiles(env.deps, { to: path.join(env.dir, 'r3'), at: Date.UTC(2026, 4, 1) })))
        .code,
    ).toBe('E_AT_BEFORE_FIRST');
    expect(
      (await rejection(restoreFiles(env.deps, { to: path.join(env.dir, 'r3'), at: clock.now() + 3600_000 })))
        .code,
    ).toBe('E_AT_FUTURE');
  });

  it('rebuilds its dedup index from the repository when the local cache or blob key is lost', async () => {
    env = await createFilesEnv();
    for (let i = 0; i < 50; i++) put(path.join(env.shop, 'images', `p${i}.jpg`), bytes(i, 10_000));
    await backupFiles(env.deps);
    const stateFiles = path.join(env.config.backup.stateDir, 'files');
    // Cache gone: files are read again, nothing is stored again.
    for (const f of execFileSync('ls', [stateFiles]).toString().trim().split('\n'))
      if (f.endsWith('.json')) rmSync(path.join(stateFiles, f));
    const again = await backupFiles(env.deps);
    expect(again.stats.indexSource).toBe('rebuilt');
    expect(again.stats.filesRead).toBe(50);
    expect(again.stats.blobsNew).toBe(0);
    expect(again.stats.segmentsNew).toBe(0);
    expect(again.entry.storedBytes).toBeLessThan(3_000);
    // Key gone too: a new key, the index rebuilt with it, still nothing stored again.
    rmSync(stateFiles, { recursive: true });
    const rekeyed = await backupFiles(env.deps);
    expect(rekeyed.stats.indexSource).toBe('rebuilt');
    expect(rekeyed.stats.blobsNew).toBe(0);
    // Without the identity the content is stored once more, and restores still work.
    rmSync(stateFiles, { recursive: true });
    const noIdentity = { ...env.config, backup: { ...env.config.backup } };
    delete noIdentity.backup.identity;
    const deps = await env.makeDeps({ config: noIdentity });
    const blind = await backupFiles(deps);
    expect(blind.stats.indexSource).toBe('empty');
    expect(blind.stats.blobsNew).toBeGreaterThanOrEqual(50);
    const to = path.join(env.dir, 'r');
    const rr = await restoreFiles(env.deps, { to });
    expect(rr.verified).toBe(50);
  });

  it('prunes a point whose packs are shared: shared packs stay, only unshared ones go, later points restore', async () => {
    env = await createFilesEnv();
    const a = path.join(env.shop, 'images/a.jpg');
    const b = path.join(env.shop, 'images/b.jpg');
    put(a, bytes(1, 50_000));
    const p1 = (await backupFiles(env.deps)).entry;
    put(b, bytes(2, 50_000));
    const p2 = (await backupFiles(env.deps)).entry; // b in a pack of its own
    rmSync(b);
    const p3 = (await backupFiles(env.deps)).entry; // a only: shares p1's pack
    const onlyP2 = p2.objects
      .map((o) => o.key)
      .filter((k) => !p1.objects.some((o) => o.key === k) && !p3.objects.some((o) => o.key === k));
    expect(onlyP2.length).toBeGreaterThan(0);

    // What the generic prune does: keep the union of the kept points' objects.
    const keep = new Set([...p1.objects, ...p3.objects].map((o) => o.key));
    await env.deps.repo.deletePoint(p2, keep);
    const left = await chunkKeys(env);
    for (const k of keep) expect(left).toContain(k);
    for (const k of onlyP2) expect(left).not.toContain(k);
    const r3 = await restoreFiles(env.deps, { to: path.join(env.dir, 'r3') });
    expect(r3.failures).toEqual([]);
    expect(readFileSync(path.join(env.dir, 'r3/images/a.jpg')).equals(bytes(1, 50_000))).toBe(true);

    await env.deps.repo.deletePoint(p1, new Set(p3.objects.map((o) => o.key)));
    const r3b = await restoreFiles(env.deps, { to: path.join(env.dir, 'r3b') });
    expect(r3b.verified).toBe(1);
    // b comes back: the cache knew it in p2's pack, which is gone, so it is stored again.
    put(b, bytes(2, 50_000));
    const p4 = await backupFiles(env.deps);
    expect(p4.stats.blobsNew).toBe(1);
    expect(p4.stats.blobsDeduplicated).toBe(0);
    const r4 = await restoreFiles(env.deps, { to: path.join(env.dir, 'r4') });
    expect(r4.failures).toEqual([]);
    expect(readFileSync(path.join(env.dir, 'r4/images/b.jpg')).equals(bytes(2, 50_000))).toBe(true);
  });

  it('verifies file content pack by pack and names the files and points a damaged pack breaks', async () => {
    env = await createFilesEnv();
    put(path.join(env.shop, 'images/a.jpg'), bytes(1, 40_000));
    put(path.join(env.shop, 'invoices/i.pdf'), 'invoice');
    const p1 = (await backupFiles(env.deps)).entry;
    put(path.join(env.shop, 'images/c.jpg'), bytes(3, 40_000));
    const p2 = (await backupFiles(env.deps)).entry;
    const ok = await verifyFilesPoints(env.deps.repo, [p1, p2], { readData: true });
    expect(ok.problems).toEqual([]);
    expect(ok.points).toBe(2);
    expect(ok.blobsChecked).toBe(3);
    const check = await checkFilesPoint(env.deps, p2, { sample: 2, scratchDir: env.dir });
    expect(check).toMatchObject({ ok: true, checked: 2 });

    // Flip one byte in the first data pack (shared by both points).
    const point = await loadFilesPoint(env.deps.repo, p1);
    const pack = point.sets.flatMap((s) => s.entries).find((e) => e.type === 'file' && e.path === 'a.jpg')!;
    const key = pack.type === 'file' ? pack.blobs[0]!.pack : '';
    const file = path.join(env.dir, 'data/backups', key);
    const raw = readFileSync(file);
    raw[raw.length - 100]! ^= 0x01;
    writeFileSync(file, raw);
    const bad = await verifyFilesPoints(env.deps.repo, [p1, p2], { readData: true });
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]!.key).toBe(key);
    expect(bad.problems[0]!.points).toEqual([p1.id, p2.id].sort());
    const rr = await restoreFiles(env.deps, { to: path.join(env.dir, 'r') });
    expect(rr.failures.map((f) => f.path).sort()).toEqual(['a.jpg', 'i.pdf']);
    expect(existsSync(path.join(env.dir, 'r/images/a.jpg'))).toBe(false);
    const failed = await checkFilesPoint(env.deps, p2, { sample: 'all', scratchDir: env.dir });
    expect(failed.ok).toBe(false);
  });
});
