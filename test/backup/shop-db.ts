/** A small sample shop database for backup tests (no test-runner imports: child scripts use it too). */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';

/** Creates a sample shop database: customers, orders referencing them, payments referencing orders. */
export function createShopDb(file: string, rows: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec(`
    CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
      status TEXT NOT NULL, total_cents INTEGER NOT NULL, note TEXT);
    CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), raw TEXT NOT NULL);
    CREATE INDEX orders_status ON orders(status);
  `);
  const c = db.prepare('INSERT INTO customers (email) VALUES (?)');
  const o = db.prepare('INSERT INTO orders (customer_id, status, total_cents, note) VALUES (?, ?, ?, ?)');
  const p = db.prepare('INSERT INTO payments (order_id, raw) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= Math.max(1, Math.floor(rows / 10)); i++) c.run(`customer${i}@example.com`);
    for (let i = 1; i <= rows; i++) {
      o.run(1 + (i % Math.max(1, Math.floor(rows / 10))), 'new', i * 7, `order note ${i} `.repeat(4));
      p.run(i, JSON.stringify({ id: `evt_${i}`, amount: i * 7, currency: 'eur' }));
    }
  })();
  db.close();
}
