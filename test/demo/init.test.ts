import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadIdentities } from '../../src/backup/crypto/index.js';
import { loadConfig } from '../../src/config/index.js';
import { SafetynetError } from '../../src/errors.js';
import { initDemo, type InitReport } from '../../src/demo/init.js';
import { SHOP_TABLES } from '../../src/demo/shop-db.js';
import { SqliteLogStore } from '../../src/log/index.js';
import { FileAdminUserStore } from '../../src/web/auth/users.js';
import { tempDir } from '../helpers/tmp.js';
import { pdfProblem, pngProblem, snapshot } from './helpers.js';

// A cheap scrypt for tests; the CLI test covers the real cost.
const scrypt = { N: 2 ** 12, r: 8, p: 1 };
const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

const SMALL = { customers: 50, orders: 100, invoices: 10 };

/** A demo with full-size sample data only where a test counts it (the rest stays quick). */
async function init(dir: string, seed = 7, full = false): Promise<InitReport> {
  return initDemo({ dir, seed, now: NOW, scrypt, env: {}, ...(full ? {} : { sizes: SMALL }) });
}

describe('demo init', () => {
  it('creates config, identity, shop database, invoices, images and an admin account', async () => {
    const dir = path.join(tempDir(), 'demo');
    const report = await init(dir, 7, true);

    // The config loads through the real loader without a single warning.
    const config = loadConfig({ configPath: path.join(dir, 'safetynet.config.json'), env: {} });
    expect(config.warnings).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(config.database.path).toBe(path.join(dir, 'data/shop.sqlite'));
    expect(config.logs.store.path).toBe(path.join(dir, 'data/logs.sqlite'));
    expect(config.backup.repository).toBe('file://' + path.join(dir, 'data/backups'));
    expect(config.backup.stateDir).toBe(path.join(dir, 'data/backup-state'));
    expect(config.backup.schedule.incremental).toBe('*/5 * * * *');
    expect(config.backup.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(config.backup.files.map((f) => f.name)).toEqual(['invoices', 'images', 'config']);
    expect(report.url).toBe('http://127.0.0.1:3000/');

    // A fresh identity, mode 0600, whose public key is the config's recipient.
    const identityFile = config.backup.identity!;
    expect(statSync(identityFile).mode & 0o777).toBe(0o600);
    const [identity] = await loadIdentities(identityFile);
    expect(config.backup.recipients).toEqual([identity!.recipient]);

    // The shop database: WAL, the six tables, thousands of rows, integrity and foreign keys OK.
    const db = new Database(config.database.path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      let rows = 0;
      for (const t of SHOP_TABLES) {
        const n = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
        expect(n, t).toBeGreaterThan(0);
        rows += n;
      }
      expect(rows).toBeGreaterThan(2000);
      expect(rows).toBeLessThan(20000);
      // Payments keep the raw webhook body, byte for byte what was "received" (pretty-printed JSON).
      const raw = (db.prepare('SELECT raw_webhook FROM payments LIMIT 1').get() as { raw_webhook: string }).raw_webhook;
      expect(raw).toContain('\n  "type": "payment_intent.');
      // Every invoice number has its PDF.
      const numbers = (db.prepare('SELECT invoice_number FROM orders WHERE invoice_number IS NOT NULL').all() as {
        invoice_number: string;
      }[]).map((r) => r.invoice_number);
      expect(numbers).toHaveLength(50);
      const pdfDir = path.join(dir, 'data/invoices/2026');
      expect(readdirSync(pdfDir).sort()).toEqual(numbers.map((n) => `${n}.pdf`).sort());
    } finally {
      db.close();
    }

    // 50 well-formed PDFs, 40 valid PNGs.
    const pdfDir = path.join(dir, 'data/invoices/2026');
    for (const f of readdirSync(pdfDir)) {
      const pdf = readFileSync(path.join(pdfDir, f));
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(pdf.toString('latin1').trimEnd().endsWith('%%EOF')).toBe(true);
      expect(pdfProblem(pdf), f).toBeNull();
    }
    const images = readdirSync(path.join(dir, 'data/images'));
    expect(images).toHaveLength(40);
    for (const f of images) expect(pngProblem(readFileSync(path.join(dir, 'data/images', f))), f).toBeNull();

    // The admin account works with the printed password, and the password went nowhere else.
    expect(report.admin.created).toBe(true);
    const password = report.admin.created ? report.admin.password : '';
    expect(password.length).toBeGreaterThanOrEqual(12);
    const users = new FileAdminUserStore(config.admin.users, { scrypt });
    expect(await users.verify('admin', password)).toMatchObject({ ok: true, name: 'admin' });
    expect(statSync(config.admin.users).mode & 0o777).toBe(0o600);
    for (const [file, content] of Object.entries(snapshot(dir))) {
      if (file.endsWith('.pdf') || file.endsWith('.png')) continue;
      expect(readFileSync(path.join(dir, file)).includes(password), `${file} holds the password`).toBe(false);
      expect(content).toBeTruthy();
    }

    // The account creation is audited like `safetynet admin add`.
    const store = await SqliteLogStore.open(config.logs.store.path);
    try {
      const page = await store.search({ categories: ['admin'] });
      expect(page.entries).toHaveLength(1);
      expect(page.entries[0]!.details).toMatchObject({ action: 'user.add', target: 'admin', outcome: 'success' });
    } finally {
      await store.close();
    }
  });

  it('is idempotent: a second run changes no file and keeps identity, database and account', async () => {
    const dir = path.join(tempDir(), 'demo');
    const first = await init(dir);
    const before = snapshot(dir);
    const second = await init(dir, 99);
    expect(snapshot(dir)).toEqual(before);
    expect(second.created).toEqual([]);
    expect(second.kept.map((k) => k.path).sort()).toEqual(
      ['safetynet.config.json', 'data/backup-identity.txt', 'data/shop.sqlite', 'data/images', 'data/admin-users.json'].sort(),
    );
    expect(second.admin).toEqual({ user: 'admin', created: false, users: ['admin'] });
    expect(second.seed).toBeUndefined();
    expect(first.admin.created).toBe(true);
  });

  it('re-creates a deleted product image byte for byte and leaves everything else alone', async () => {
    const dir = path.join(tempDir(), 'demo');
    await init(dir);
    const before = snapshot(dir);
    const image = path.join(dir, 'data/images/product-lo-1007.png');
    const bytes = readFileSync(image);
    rmSync(image);
    const report = await init(dir);
    expect(readFileSync(image).equals(bytes)).toBe(true);
    expect(report.created).toEqual([{ path: 'data/images', what: '1 product images (PNG)' }]);
    const after = snapshot(dir);
    for (const [file, entry] of Object.entries(before)) {
      // The log store (and its search file beside it) gains the `system` entry that says what init
      // re-created.
      if (file === 'data/images/product-lo-1007.png' || file.startsWith('data/logs.sqlite')) continue;
      expect(after[file], file).toBe(entry);
    }
  });

  it('refuses to make a new identity for an existing config whose identity is gone', async () => {
    const dir = path.join(tempDir(), 'demo');
    await init(dir);
    rmSync(path.join(dir, 'data/backup-identity.txt'));
    const err = await init(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetynetError);
    expect((err as SafetynetError).code).toBe('E_DEMO_IDENTITY_MISSING');
    expect((err as SafetynetError).hint).toContain('delete the demo folder');
    expect(existsSync(path.join(dir, 'data/backup-identity.txt'))).toBe(false);
  });

  it('never overwrites a database file that is not SQLite', async () => {
    const dir = path.join(tempDir(), 'demo');
    await init(dir);
    const db = path.join(dir, 'data/shop.sqlite');
    rmSync(db);
    writeFileSync(db, 'my own notes, not a database\n');
    const err = await init(dir).catch((e: unknown) => e);
    expect((err as SafetynetError).code).toBe('E_DEMO_DB');
    expect(readFileSync(db, 'utf8')).toBe('my own notes, not a database\n');
  });

  it('does not add an "admin" account when other accounts exist', async () => {
    const dir = path.join(tempDir(), 'demo');
    await init(dir);
    const usersFile = path.join(dir, 'data/admin-users.json');
    const users = new FileAdminUserStore(usersFile, { scrypt });
    await users.add('alice', 'a long enough passphrase');
    await users.remove('admin');
    const report = await init(dir);
    expect(report.admin).toEqual({ user: 'alice', created: false, users: ['alice'] });
    expect((await users.list()).map((u) => u.name)).toEqual(['alice']);
  });

  it('uses PORT for the printed URL, as serve does', async () => {
    const dir = path.join(tempDir(), 'demo');
    const report = await initDemo({ dir, seed: 1, now: NOW, scrypt, env: { PORT: '4321' }, sizes: SMALL });
    expect(report.url).toBe('http://127.0.0.1:4321/');
  });
});
