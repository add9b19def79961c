/**
 * The row counts a database point records are taken inside its snapshot, and after its pages were
 * read: counting first read each table's b-tree 4 KB at a time in tree order, which on a database
 * not in the page cache was most of a full backup (3.9 s of 8 on the 1 GiB shop database).
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { openSnapshot } from '../../src/backup/sources/sqlite/snapshot.js';
import { tempDir } from '../helpers/tmp.js';

describe('SQLite snapshot row counts', () => {
  it('are the snapshot’s, even when counted after rows were added meanwhile', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'shop.sqlite');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)');
    const insert = db.prepare('INSERT INTO orders (note) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run(`order ${i}`);
    })();
    const snap = await openSnapshot(file, { stagingDir: path.join(dir, 'staging'), method: 'locked-read' });
    try {
      expect(snap.method).toBe('locked-read');
      const pages = Buffer.alloc(snap.pageCount * snap.pageSize);
      await snap.read(pages, 0, pages.length);
      // The shop goes on writing while the backup reads (WAL: its commits do not wait for us).
      db.transaction(() => {
        for (let i = 0; i < 70; i++) insert.run(`later ${i}`);
      })();
      expect(db.prepare('SELECT count(*) FROM orders').pluck().get()).toBe(570);
      expect(snap.countTables()).toEqual({ orders: 500 });
    } finally {
      await snap.close();
      db.close();
    }
  });
});
