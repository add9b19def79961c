/**
 * The example shop's own database (SQLite, WAL mode, so safetynet's backups never block a write):
 * products with stock, carts, orders with their items, payments and refunds.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';

export type ShopDb = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS products (
  sku TEXT PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS carts (id INTEGER PRIMARY KEY, items TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY, email TEXT NOT NULL, status TEXT NOT NULL, total_cents INTEGER NOT NULL,
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS order_items (
  order_id INTEGER NOT NULL REFERENCES orders(id), sku TEXT NOT NULL REFERENCES products(sku),
  qty INTEGER NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
  order_id INTEGER NOT NULL REFERENCES orders(id), event_id TEXT NOT NULL UNIQUE,
  amount_cents INTEGER NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
  order_id INTEGER NOT NULL REFERENCES orders(id), amount_cents INTEGER NOT NULL, by TEXT NOT NULL,
  created_at TEXT NOT NULL);
`;

const PRODUCTS: [string, string, number, number][] = [
  ['TEE-BLUE', 'Blue T-shirt', 1990, 25],
  ['MUG-LOGO', 'Logo mug', 1250, 40],
  ['CAP-GREY', 'Grey cap', 2400, 10],
];

/** Opens (and on first use creates and stocks) the shop database. */
export function openShopDb(file: string): ShopDb {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  const insert = db.prepare(
    'INSERT OR IGNORE INTO products (sku, name, price_cents, stock) VALUES (?, ?, ?, ?)',
  );
  for (const p of PRODUCTS) insert.run(...p);
  return db;
}
