/**
 * The quick check done on the pages as they stream to disk (btree-scan.ts + checkScannedDatabase):
 * it must accept every sound database (WITHOUT ROWID tables, overflow pages, virtual tables, stale
 * pages on the freelist) and catch what the file-reading quick check caught, plus index b-trees
 * that do not hold one entry per row.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { PageScan } from '../../src/backup/sources/sqlite/btree-scan.js';
import { checkDatabase, checkScannedDatabase } from '../../src/backup/sources/sqlite/check.js';
import { countRows } from '../../src/backup/sources/sqlite/snapshot.js';
import { backupDatabase, restoreDatabase } from '../../src/backup/database.js';
import { tempDir } from '../helpers/tmp.js';
import { useTestEnvs } from './env.js';

const env = useTestEnvs();

/** A database with a rowid table and two indexes (one partial), a WITHOUT ROWID table with overflow pages, and FTS5. */
function makeDb(file: string, rows = 4000): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER);
    CREATE INDEX ix_a ON t(a);
    CREATE INDEX ix_b ON t(b) WHERE b > 10;
    CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
    CREATE VIRTUAL TABLE docs USING fts5(body);
  `);
  const ins = db.prepare('INSERT INTO t (a, b) VALUES (?, ?)');
  const kv = db.prepare('INSERT INTO kv (k, v) VALUES (?, ?)');
  const doc = db.prepare('INSERT INTO docs (body) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`value ${i} ${'x'.repeat(i % 50)}`, i % 20);
    for (let i = 0; i < 60; i++) kv.run(`key-${i}`, Buffer.alloc(i % 3 === 0 ? 20_000 : 100, i));
    for (let i = 0; i < 200; i++) doc.run(`invoice ${i} paid by card`);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Scans a file the way a restore does (in runs of pages, page 1 first) and runs the quick check on it. */
function scannedCheck(
  file: string,
  opts: { tables?: Record<string, number>; pageCount?: number; scanPages?: (scan: PageScan) => void } = {},
) {
  const bytes = readFileSync(file);
  const pageSize = bytes.readUInt16BE(16);
  const pageCount = bytes.length / pageSize;
  const scan = new PageScan(pageSize, pageCount);
  const run = 7 * pageSize;
  for (let off = 0; off < bytes.length; off += run)
    scan.scan(bytes.subarray(off, Math.min(bytes.length, off + run)), off / pageSize + 1);
  opts.scanPages?.(scan);
  const db = new Database(file, { readonly: true });
  const tables = countRows(db);
  db.close();
  return checkScannedDatabase({
    file,
    scan,
    header: bytes.subarray(0, 100),
    foreignKeyCheck: false,
    expected: { pageSize, pageCount: opts.pageCount ?? pageCount, tables: opts.tables ?? tables },
  });
}

function rootOf(file: string, name: string): number {
  const db = new Database(file, { readonly: true });
  const root = db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(name) as number;
  db.close();
  return root;
}

/** Points index ix_a at ix_b's (partial, smaller) b-tree and back, through the sqlite3 CLI. */
function swapIndexRoots(file: string): void {
  const a = rootOf(file, 'ix_a');
  const b = rootOf(file, 'ix_b');
  execFileSync('sqlite3', [
    file,
    `PRAGMA writable_schema = ON; UPDATE sqlite_schema SET rootpage = CASE name WHEN 'ix_a' THEN ${b} ELSE ${a} END WHERE name IN ('ix_a', 'ix_b');`,
  ]);
}

describe('quick check from the streamed pages', () => {
  it('accepts sound databases and counts what count(*) counts, stale freelist pages included', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.sqlite');
    makeDb(file);
    const db = new Database(file, { readonly: true });
    const expected = countRows(db);
    db.close();
    const r = scannedCheck(file);
    expect(r.integrity).toBe('ok');
    expect(r.tables).toEqual(expected);
    expect(r.tables.kv).toBe(60); // a WITHOUT ROWID table: entries of an index b-tree
    // Deleting most rows leaves old interior and leaf pages on the freelist, unchanged: they are
    // never reached from a root, so they must not raise an alarm.
    const w = new Database(file);
    w.exec("DELETE FROM t WHERE id % 5 <> 0; DELETE FROM kv WHERE k > 'key-3'");
    w.pragma('wal_checkpoint(TRUNCATE)');
    expect(w.pragma('freelist_count', { simple: true })).toBeGreaterThan(10);
    w.close();
    expect(scannedCheck(file).integrity).toBe('ok');
  });

  it('catches wrong header, wrong row counts, a damaged root, a bad child pointer and a shared page', () => {
    const dir = tempDir();
    const file = path.join(dir, 'b.sqlite');
    makeDb(file, 20_000);
    const bytes = readFileSync(file);
    const pageSize = bytes.readUInt16BE(16);
    const pageCount = bytes.length / pageSize;
    expect(scannedCheck(file, { pageCount: pageCount + 1 }).integrity).toMatch(/header says \d+ pages/);
    const db = new Database(file, { readonly: true });
    const tables = countRows(db);
    db.close();
    expect(scannedCheck(file, { tables: { ...tables, t: 5 } }).integrity).toMatch(
      /t: 20000 rows, manifest says 5/,
    );
    expect(scannedCheck(file, { tables: { ...tables, gone: 1 } }).integrity).toMatch(/gone: missing rows/);

    // t's root is an interior page (20,000 rows): damage its pointers in the scan only.
    const root = rootOf(file, 't');
    const page = Buffer.from(bytes.subarray((root - 1) * pageSize, root * pageSize));
    expect(page[0]).toBe(5);
    const rightMost = page.readUInt32BE(8);
    const firstCell = page.readUInt16BE(12);
    const firstChild = page.readUInt32BE(firstCell);
    const variant = (edit: (p: Buffer) => void) =>
      scannedCheck(file, {
        scanPages: (scan) => {
          const copy = Buffer.from(page);
          edit(copy);
          scan.scan(copy, root);
        },
      }).integrity;
    expect(variant(() => {})).toBe('ok'); // the same page scanned again replaces itself
    expect(variant((p) => p.fill(0x5a))).toMatch(/t: page \d+ is not a b-tree page/);
    expect(variant((p) => p.writeUInt32BE(pageCount + 50, 8))).toMatch(
      new RegExp(`t: refers to page ${pageCount + 50}, outside the file's ${pageCount} pages`),
    );
    expect(variant((p) => p.writeUInt32BE(firstChild, 8))).toMatch(
      new RegExp(`t: page ${firstChild} is reached twice`),
    );
    expect(variant((p) => p.writeUInt16BE(pageSize - 2, 12))).toMatch(/points outside the page/);
    expect(rightMost).not.toBe(firstChild);
  });

  it('catches an index that does not hold one entry per row, which the file-reading quick check missed', () => {
    const dir = tempDir();
    const file = path.join(dir, 'c.sqlite');
    makeDb(file);
    swapIndexRoots(file);
    const bytes = readFileSync(file);
    const pageSize = bytes.readUInt16BE(16);
    const expected = {
      pageSize,
      pageCount: bytes.length / pageSize,
      tables: { t: 4000, kv: 60 } as Record<string, number>,
    };
    const db = new Database(file, { readonly: true });
    for (const [name, n] of Object.entries(countRows(db)))
      if (!(name in expected.tables)) expected.tables[name] = n;
    db.close();
    const stream = scannedCheck(file, { tables: expected.tables });
    expect(stream.integrity).toMatch(/index ix_a: \d+ entries for the 4000 rows of t/);
    // What the quick check used to do (count each table's own b-tree) sees nothing wrong here.
    expect(checkDatabase({ file, level: 'quick', foreignKeyCheck: false, expected }).integrity).toBe('ok');
    expect(checkDatabase({ file, level: 'full', foreignKeyCheck: false, expected }).integrity).not.toBe('ok');
  });

  it('a restore of a point holding such a database fails E_RESTORE_INTEGRITY by default, leaving nothing', async () => {
    const e = await env({ rows: 0 });
    makeDb(e.config.database.path);
    swapIndexRoots(e.config.database.path);
    await backupDatabase(e.deps, { mode: 'full' });
    const to = path.join(e.dir, 'restored.sqlite');
    const err = await restoreDatabase(e.deps, { to }).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: 'E_RESTORE_INTEGRITY' });
    expect((err as Error).message).toMatch(/quick structural check failed.*ix_a/);
    expect(() => readFileSync(to)).toThrow();
    // A sound point restores with the check done on the stream, written around the page cache.
    const e2 = await env({ rows: 0 });
    makeDb(e2.config.database.path);
    await backupDatabase(e2.deps, { mode: 'full' });
    const ok = await restoreDatabase(e2.deps, { to: path.join(e2.dir, 'ok.sqlite') });
    expect(ok.facts).toMatchObject({ check: 'quick', checkedBy: 'stream' });
    expect(ok.tables).toMatchObject({ t: 4000, kv: 60, docs: 200 });
  });
});

describe('writes around the page cache', () => {
  it('unaligned buffers and positions still land byte for byte (here, or on a file system without O_DIRECT)', async () => {
    const { DurableWriter } = await import('../../src/backup/sources/sqlite/part-pipeline.js');
    for (const dir of [tempDir(), '/dev/shm']) {
      const file = path.join(dir, `dio-${process.pid}-${Date.now()}.bin`);
      const w = await DurableWriter.create(file, true);
      try {
        const data = Buffer.alloc(3 * 4096 + 512);
        for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
        // Unaligned in memory and in the file: O_DIRECT refuses it (EINVAL, then the writer goes
        // through the page cache) or, on newer ext4 and tmpfs, the kernel falls back by itself.
        w.write(data.subarray(1), 1);
        await w.drain();
        w.write(data.subarray(0, 1), 0);
        await w.syncAll();
        expect(readFileSync(file).equals(data)).toBe(true);
      } finally {
        await w.close();
        rmSync(file, { force: true });
      }
    }
  });
});
