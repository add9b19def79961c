/**
 * The benchmark data builders at a small scale: deterministic from the seed, a sound SQLite database in
 * WAL mode with the schema and indexes DESIGN.md §7 asks for, the "1% changed" workload, and a file tree
 * with the right counts, sizes and valid PDF structure.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { applyOnePercentChange, buildShopDb } from '../../bench/data/shop-db.js';
import { addImages, buildShopFiles, treeSize } from '../../bench/data/shop-files.js';
import { tempDir } from '../helpers/tmp.js';

const SCALE = 0.01;

/** A hash of every table's rows in id order: equal content, whatever the file bytes. */
function contentHash(file: string): string {
  const db = new Database(file, { readonly: true });
  const hash = createHash('sha256');
  for (const t of ['products', 'orders', 'order_items', 'payments', 'inventory_movements']) {
    for (const row of db.prepare(`SELECT * FROM ${t} ORDER BY id`).iterate())
      hash.update(JSON.stringify(row));
  }
  db.close();
  return hash.digest('hex');
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('shop database builder', () => {
  it('builds a sound WAL-mode database with the §7 shape, the same for the same seed', () => {
    const dir = tempDir();
    const a = path.join(dir, 'a.sqlite');
    const stats = buildShopDb(a, { seed: 1, scale: SCALE });
    expect(stats.orders).toBe(14_000);
    expect(stats.products).toBe(200);

    const db = new Database(a, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const count = (t: string): number =>
      (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    expect(count('orders')).toBe(14_000);
    expect(count('order_items')).toBe(42_000);
    expect(count('payments')).toBe(14_000);
    expect(count('inventory_movements')).toBe(42_000);
    const indexes = (
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index'").all() as { name: string }[]
    )
      .map((r) => r.name)
      .sort();
    expect(indexes).toEqual(
      expect.arrayContaining(['order_items_order_id', 'orders_created_at', 'payments_order_id']),
    );
    const fks = db.prepare('PRAGMA foreign_key_list(order_items)').all() as { table: string }[];
    expect(fks.map((f) => f.table).sort()).toEqual(['orders', 'products']);
    const webhook = db.prepare('SELECT raw_webhook FROM payments WHERE order_id = 77').get() as {
      raw_webhook: string;
    };
    expect(webhook.raw_webhook.length).toBeGreaterThan(330);
    expect(webhook.raw_webhook.length).toBeLessThan(450);
    expect(JSON.parse(webhook.raw_webhook).data.object.metadata.order_id).toBe('77');
    db.close();

    // ~1 GiB at scale 1 means ~10.7 MiB here (within 20%).
    expect(stats.bytes / SCALE / 2 ** 30).toBeGreaterThan(0.8);
    expect(stats.bytes / SCALE / 2 ** 30).toBeLessThan(1.2);

    const b = path.join(dir, 'b.sqlite');
    const c = path.join(dir, 'c.sqlite');
    buildShopDb(b, { seed: 1, scale: SCALE });
    buildShopDb(c, { seed: 2, scale: SCALE });
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
    expect(contentHash(c)).not.toBe(contentHash(a));
  });

  it('applies the 1% change: scattered status updates and new orders with their rows', () => {
    const dir = tempDir();
    const file = path.join(dir, 'shop.sqlite');
    buildShopDb(file, { seed: 1, scale: SCALE });
    const before = new Database(file, { readonly: true });
    const statuses = new Map(
      (before.prepare('SELECT id, status FROM orders').all() as { id: number; status: string }[]).map((r) => [
        r.id,
        r.status,
      ]),
    );
    before.close();

    const change = applyOnePercentChange(file, { seed: 2, scale: SCALE });
    expect(change).toMatchObject({ updated: 130, inserted: 50 });

    const db = new Database(file, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const count = (t: string): number =>
      (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    expect(count('orders')).toBe(14_050);
    expect(count('order_items')).toBe(42_150);
    expect(count('payments')).toBe(14_050);
    const changed = (
      db.prepare('SELECT id, status FROM orders WHERE id <= 14000').all() as { id: number; status: string }[]
    )
      .filter((r) => statuses.get(r.id) !== r.status)
      .map((r) => r.id);
    // Updates set one of five statuses, so some hit an order already in it; most must show.
    expect(changed.length).toBeGreaterThan(60);
    expect(Math.min(...changed)).toBeLessThan(2_000); // scattered over the whole table, not one corner
    expect(Math.max(...changed)).toBeGreaterThan(12_000);
    const newest = db.prepare('SELECT max(created_at) AS t FROM orders WHERE id > 14000').get() as {
      t: string;
    };
    const oldest = db.prepare('SELECT max(created_at) AS t FROM orders WHERE id <= 14000').get() as {
      t: string;
    };
    expect(newest.t > oldest.t).toBe(true);
    db.close();
  });

  it('refuses a missing database and bad options instead of creating junk', () => {
    const dir = tempDir();
    expect(() => applyOnePercentChange(path.join(dir, 'none.sqlite'), { seed: 1, scale: SCALE })).toThrow(
      /no shop database/,
    );
    expect(() => buildShopDb(path.join(dir, 'x.sqlite'), { seed: 1, scale: 0 })).toThrow(/scale/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('shop files builder', () => {
  it('builds the §7 tree deterministically: images, invoice PDFs in two years, config', () => {
    const a = tempDir();
    const stats = buildShopFiles(a, { seed: 1, scale: SCALE });
    const files = listFiles(a);
    expect(stats.files).toBe(files.length);
    expect(files.filter((f) => f.startsWith('images/'))).toHaveLength(80);
    const invoices = files.filter((f) => f.startsWith('invoices/'));
    expect(invoices).toHaveLength(50);
    expect(new Set(invoices.map((f) => f.split('/')[1]))).toEqual(new Set(['2025', '2026']));
    expect(files.filter((f) => f.startsWith('config/'))).toHaveLength(3);
    expect(treeSize(a)).toEqual({ files: stats.files, bytes: stats.bytes });

    for (const f of files.filter((x) => x.startsWith('images/'))) {
      const size = statSync(path.join(a, f)).size;
      expect(size).toBeGreaterThanOrEqual(30_000);
      expect(size).toBeLessThanOrEqual(170_000);
    }
    for (const f of invoices) {
      const pdf = readFileSync(path.join(a, f), 'latin1');
      expect(pdf.length).toBeGreaterThanOrEqual(15_000);
      expect(pdf.length).toBeLessThanOrEqual(41_000);
      expect(pdf.startsWith('%PDF-1.4\n')).toBe(true);
      // startxref must point at the xref table, and every xref entry at its object.
      const xref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(pdf)![1]);
      expect(pdf.slice(xref, xref + 4)).toBe('xref');
      const offsets = [...pdf.slice(xref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
      offsets.forEach((o, i) => expect(pdf.slice(o, o + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`));
    }

    const b = tempDir();
    buildShopFiles(b, { seed: 1, scale: SCALE });
    expect(listFiles(b)).toEqual(files);
    for (const f of files) {
      expect(readFileSync(path.join(b, f)).equals(readFileSync(path.join(a, f))), f).toBe(true);
      expect(statSync(path.join(b, f)).mtimeMs).toBe(statSync(path.join(a, f)).mtimeMs);
    }
  });

  it('adds new, distinct images after the existing ones', () => {
    const dir = tempDir();
    buildShopFiles(dir, { seed: 1, scale: SCALE });
    const before = listFiles(dir);
    const added = addImages(dir, 5, 7);
    expect(added.files).toHaveLength(5);
    const after = listFiles(dir);
    expect(after.length).toBe(before.length + 5);
    const hashes = new Set(
      after
        .filter((f) => f.startsWith('images/'))
        .map((f) =>
          createHash('sha256')
            .update(readFileSync(path.join(dir, f)))
            .digest('hex'),
        ),
    );
    expect(hashes.size).toBe(85);
  });
});
