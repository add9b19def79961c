import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { copyFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { backupDatabase, restoreDatabase } from '../../src/backup/database.js';
import { checkDatabase } from '../../src/backup/sources/sqlite/check.js';
import type { SqliteManifest } from '../../src/backup/repo/types.js';
import { useTestEnvs } from './env.js';
import { runCli } from '../helpers/cli.js';

const env = useTestEnvs();

describe('restore db --check levels', () => {
  it('quick (the default), full and none prove what each says, on a full point and on a chain', async () => {
    const e = await env({ rows: 3000 });
    const full = await backupDatabase(e.deps, { mode: 'full' });
    const db = new Database(e.config.database.path);
    db.exec("UPDATE orders SET status = 'shipped' WHERE id % 7 = 0");
    db.close();
    const inc = await backupDatabase(e.deps, { mode: 'incremental' });
    expect(inc.kind).toBe('incremental');
    const m = await e.deps.repo.readManifest<SqliteManifest>(inc.entry);

    const quick = await restoreDatabase(e.deps, { to: path.join(e.dir, 'q.sqlite') });
    expect(quick.facts).toMatchObject({ check: 'quick', hashedBy: 'parts', integrity: null });
    expect(quick.integrity).toBeUndefined();
    expect(quick.sha256).toBe(m.database.sha256);
    expect(quick.tables).toEqual(m.database.tables);
    expect(quick.phases).toHaveProperty('syncTailMs');

    const fullCheck = await restoreDatabase(e.deps, { to: path.join(e.dir, 'f.sqlite'), check: 'full' });
    expect(fullCheck.facts).toMatchObject({ check: 'full', hashedBy: 'file', integrity: 'ok' });
    expect(fullCheck.integrity).toBe('ok');
    expect(fullCheck.tables).toEqual(m.database.tables);

    const none = await restoreDatabase(e.deps, {
      to: path.join(e.dir, 'n.sqlite'),
      pointId: full.entry.id,
      check: 'none',
    });
    expect(none.facts).toMatchObject({ check: 'none', hashedBy: 'parts' });
    expect(none.tables).toEqual({});
    // Whatever the level, the bytes are the same database.
    const hash = (f: string) =>
      new Database(f, { readonly: true }).pragma('integrity_check', { simple: true });
    expect(hash(path.join(e.dir, 'q.sqlite'))).toBe('ok');
    expect(hash(path.join(e.dir, 'n.sqlite'))).toBe('ok');
  });

  it('the quick check catches a wrong page count, wrong row counts and a damaged table b-tree', async () => {
    const e = await env({ rows: 3000 });
    const file = e.config.database.path;
    const db = new Database(file, { readonly: true });
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pageCount = db.pragma('page_count', { simple: true }) as number;
    const tables = Object.fromEntries(
      (
        db
          .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
          .pluck()
          .all() as string[]
      ).map((t) => [t, Number(db.prepare(`SELECT count(*) FROM "${t}"`).pluck().get())]),
    );
    const root = db
      .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'orders'")
      .pluck()
      .get() as number;
    db.close();
    const copy = path.join(e.dir, 'copy.sqlite');
    copyFileSync(file, copy);
    expect(statSync(copy).size).toBe(pageSize * pageCount);
    const req = (expected: Partial<{ pageCount: number; tables: Record<string, number> }>) => ({
      file: copy,
      level: 'quick' as const,
      foreignKeyCheck: false,
      expected: { pageSize, pageCount, tables, ...expected },
    });
    expect(checkDatabase(req({})).integrity).toBe('ok');
    expect(checkDatabase(req({ pageCount: pageCount + 1 })).integrity).toMatch(/header says \d+ pages/);
    expect(checkDatabase(req({ tables: { ...tables, orders: 1 } })).integrity).toMatch(
      /orders: \d+ rows, manifest says 1/,
    );
    // Garbage over the root page of the orders table: SQLite refuses to walk it.
    const fd = openSync(copy, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, (root - 1) * pageSize);
    closeSync(fd);
    expect(checkDatabase(req({})).integrity).not.toBe('ok');
    expect(checkDatabase({ ...req({}), level: 'full' }).integrity).not.toBe('ok');
  });

  it('the CLI takes --check, says what it checked, and refuses an unknown level with exit 2', async () => {
    const e = await env({ rows: 500 });
    await backupDatabase(e.deps, { mode: 'full' });
    const to = path.join(e.dir, 'cli.sqlite');
    const bad = await runCli(['--config', e.configFile, 'restore', 'db', '--to', to, '--check', 'deep']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--check deep is not a check level/);
    const ok = await runCli(['--config', e.configFile, 'restore', 'db', '--to', to]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/quick check \(header, schema, row counts\) ok/);
    const full = await runCli([
      '--config',
      e.configFile,
      'restore',
      'db',
      '--to',
      to,
      '--force',
      '--check',
      'full',
      '--json',
    ]);
    expect(full.code, full.stderr).toBe(0);
    expect(JSON.parse(full.stdout.trim().split('\n').pop()!)).toMatchObject({
      check: 'full',
      integrity: 'ok',
    });
  });
});
