import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { backupDatabase, restoreDatabase } from '../../src/backup/database.js';
import { ManualClock } from '../../src/clock.js';
import { expectCode, useTestEnvs } from './env.js';

const env = useTestEnvs();

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
function query<T>(file: string, sql: string): T {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).get() as T;
  } finally {
    db.close();
  }
}
function exec(file: string, sql: string): void {
  const db = new Database(file);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}
describe('SQLite database backups', () => {
  it('takes a full then incremental points and restores each one exactly', async () => {
    const e = await env({ rows: 3000 });
    const db = e.config.database.path;
    const full = await backupDatabase(e.deps, { mode: 'auto' });
    expect(full.kind).toBe('full');
    expect(full.facts.snapshotMethod).toBe('locked-read');

    exec(db, "UPDATE orders SET status = 'paid' WHERE id % 97 = 0");
    const inc1 = await backupDatabase(e.deps, { mode: 'auto' });
    expect(inc1.kind).toBe('incremental');
    expect(inc1.entry.parent).toBe(full.entry.id);
    expect(inc1.facts.changedPages as number).toBeGreaterThan(0);
    expect(inc1.facts.changedPages as number).toBeLessThan((inc1.facts.pageCount as number) / 2);
    expect(inc1.entry.storedBytes).toBeLessThan(full.entry.storedBytes);

    exec(
      db,
      "INSERT INTO customers (email) VALUES ('late@example.com'); DELETE FROM payments WHERE id > 2900; DELETE FROM orders WHERE id > 2900",
    );
    const inc2 = await backupDatabase(e.deps, { mode: 'incremental' });
    expect(inc2.entry.parent).toBe(inc1.entry.id);

    // Latest = the live database, byte for byte (after a checkpoint, the file is the database).
    exec(db, 'PRAGMA wal_checkpoint(TRUNCATE)');
    const latest = path.join(e.dir, 'restore', 'latest.sqlite');
    const r = await restoreDatabase(e.deps, { to: latest });
    expect(r.chain).toEqual([full.entry.id, inc1.entry.id, inc2.entry.id]);
    expect(sha256(latest)).toBe(sha256(db));
    expect(query<{ n: number }>(latest, 'SELECT count(*) n FROM orders').n).toBe(2900);

    // An earlier point, by id and by time.
    const p1 = path.join(e.dir, 'restore', 'p1.sqlite');
    await restoreDatabase(e.deps, { to: p1, pointId: inc1.entry.id });
    expect(query<{ n: number }>(p1, "SELECT count(*) n FROM orders WHERE status = 'paid'").n).toBe(
      Math.floor(3000 / 97),
    );
    expect(query<{ n: number }>(p1, 'SELECT count(*) n FROM orders').n).toBe(3000);
    const p0 = path.join(e.dir, 'restore', 'p0.sqlite');
    const r0 = await restoreDatabase(e.deps, { to: p0, at: Date.parse(full.entry.time) + 0 });
    expect(r0.point.id).toBe(full.entry.id);
    expect(query<{ n: number }>(p0, "SELECT count(*) n FROM orders WHERE status = 'paid'").n).toBe(0);
    expect(r0.tables).toEqual(r0.expectedTables);
  });

  it('auto takes a full backup once per calendar day in backup.timezone', async () => {
    const clock = new ManualClock(Date.parse('2026-03-10T22:30:00Z'));
    const e = await env({ clock, backup: { timezone: 'Europe/Berlin' } });
    const a = await backupDatabase(e.deps, { mode: 'auto' });
    expect(a.kind).toBe('full');
    clock.advance(20 * 60_000); // 22:50Z = 23:50 in Berlin: same local day
    expect((await backupDatabase(e.deps, { mode: 'auto' })).kind).toBe('incremental');
    clock.advance(20 * 60_000); // 23:10Z = 00:10 next day in Berlin
    const c = await backupDatabase(e.deps, { mode: 'auto' });
    expect(c.kind).toBe('full');
    expect(c.reason).toMatch(/2026-03-11, Europe\/Berlin/);
  });

  it('falls back to a full backup when the local page index is lost, and says why', async () => {
    const e = await env();
    await backupDatabase(e.deps, { mode: 'full' });
    for (const f of readdirSync(path.join(e.config.backup.stateDir, 'sqlite'))) {
      writeFileSync(path.join(e.config.backup.stateDir, 'sqlite', f), 'garbage');
    }
    const r = await backupDatabase(e.deps, { mode: 'incremental' });
    expect(r.kind).toBe('full');
    expect(r.reason).toMatch(/no page index/);
  });

  it('each full point is a set of age+zstd objects that standard tools concatenate into the database', async () => {
    const e = await env({ rows: 4000 });
    const r = await backupDatabase(e.deps, { mode: 'full' });
    const repoDir = e.deps.repo.storage.localPath!;
    const parts = r.entry.objects.map((o) =>
      execFileSync(
        'sh',
        ['-c', `age -d -i "${e.identityFile}" "${path.join(repoDir, o.key)}" | zstd -d -c`],
        {
          maxBuffer: 1 << 30,
        },
      ),
    );
    const restoredByTools = path.join(e.dir, 'by-tools.sqlite');
    writeFileSync(restoredByTools, Buffer.concat(parts));
    const viaSafetynet = path.join(e.dir, 'via-safetynet.sqlite');
    await restoreDatabase(e.deps, { to: viaSafetynet });
    expect(sha256(restoredByTools)).toBe(sha256(viaSafetynet));
    expect(execFileSync('sqlite3', [restoredByTools, 'PRAGMA integrity_check']).toString().trim()).toBe('ok');
  });

  it('records size, SHA-256, page size/count, row counts and duration in the sealed manifest', async () => {
    const e = await env({ rows: 1234 });
    const r = await backupDatabase(e.deps, { mode: 'full' });
    const m = await e.deps.repo.readManifest<import('../../src/backup/repo/types.js').SqliteManifest>(
      r.entry,
    );
    expect(m.database.tables).toEqual({ customers: 123, orders: 1234, payments: 1234 });
    expect(m.database.pageSize).toBe(4096);
    expect(m.database.sizeBytes).toBe(m.database.pageSize * m.database.pageCount);
    expect(m.database.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.durationMs).toBeGreaterThanOrEqual(0);
    // The plaintext catalog holds no table names or row counts.
    const catalog = readFileSync(
      path.join(
        e.deps.repo.storage.localPath!,
        'catalog',
        readdirSync(path.join(e.deps.repo.storage.localPath!, 'catalog'))[0]!,
      ),
      'utf8',
    );
    expect(catalog).not.toMatch(/orders|customers|payments/);
  });

  it('restore refuses to overwrite without --force, and replaces atomically with it', async () => {
    const e = await env();
    await backupDatabase(e.deps, { mode: 'full' });
    const target = path.join(e.dir, 'existing.sqlite');
    writeFileSync(target, 'precious');
    await expectCode(restoreDatabase(e.deps, { to: target }), 'E_TARGET_EXISTS');
    expect(readFileSync(target, 'utf8')).toBe('precious');
    writeFileSync(target + '-wal', 'stale wal of the old database');
    await restoreDatabase(e.deps, { to: target, force: true });
    expect(existsSync(target + '-wal')).toBe(false);
    expect(query<{ n: number }>(target, 'SELECT count(*) n FROM orders').n).toBe(2000);
    expect(readdirSync(e.dir).filter((f) => f.includes('.restore-'))).toEqual([]);
  });

  it('--at in the future or before the first point is a clear error naming the earliest point', async () => {
    const clock = new ManualClock(Date.parse('2026-05-01T10:00:00Z'));
    const e = await env({ clock });
    const r = await backupDatabase(e.deps, { mode: 'full' });
    const to = path.join(e.dir, 'x.sqlite');
    await expectCode(restoreDatabase(e.deps, { to, at: Date.parse('2026-05-02T00:00:00Z') }), 'E_AT_FUTURE');
    const err = await expectCode(
      restoreDatabase(e.deps, { to, at: Date.parse('2026-04-30T00:00:00Z') }),
      'E_AT_BEFORE_FIRST',
    );
    expect(err.hint).toContain(r.entry.id);
    expect(existsSync(to)).toBe(false);
  });

  it('refuses a file that is not SQLite, and a missing database, without creating a point', async () => {
    const e = await env({ rows: 0 });
    await expectCode(backupDatabase(e.deps, { mode: 'full' }), 'E_DB_MISSING');
    writeFileSync(e.config.database.path, 'this is a CSV export, not a database\n'.repeat(100));
    await expectCode(backupDatabase(e.deps, { mode: 'full' }), 'E_DB_NOT_SQLITE');
    expect(await e.deps.repo.listPoints()).toEqual([]);
  });

  it('refuses to back up without recipients and to restore without the right identity', async () => {
    const e = await env();
    await backupDatabase(e.deps, { mode: 'full' });
    const noRecipients = await e.makeDeps({
      config: { ...e.config, backup: { ...e.config.backup, recipients: [] } },
    });
    await expectCode(backupDatabase(noRecipients, { mode: 'full' }), 'E_NO_RECIPIENTS');

    const missing = await e.makeDeps({
      config: { ...e.config, backup: { ...e.config.backup, identity: path.join(e.dir, 'nope.txt') } },
    });
    const to = path.join(e.dir, 'r.sqlite');
    await expectCode(restoreDatabase(missing, { to }), 'E_IDENTITY_MISSING');

    const other = path.join(e.dir, 'other.txt');
    execFileSync('age-keygen', ['-o', other], { stdio: 'ignore' });
    const wrong = await e.makeDeps({
      config: { ...e.config, backup: { ...e.config.backup, identity: other } },
    });
    await expectCode(restoreDatabase(wrong, { to }), 'E_IDENTITY_WRONG');
    expect(existsSync(to)).toBe(false);
  });

  it('a damaged or missing object makes restore fail cleanly, leaving nothing behind', async () => {
    const e = await env({ rows: 3000 });
    const r = await backupDatabase(e.deps, { mode: 'full' });
    const repoDir = e.deps.repo.storage.localPath!;
    const victim = path.join(repoDir, r.entry.objects[0]!.key);
    const bytes = readFileSync(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(victim, bytes);
    const to = path.join(e.dir, 'out', 'r.sqlite');
    await expectCode(restoreDatabase(e.deps, { to }), 'E_OBJECT_CORRUPT');
    expect(existsSync(to)).toBe(false);
    expect(readdirSync(path.dirname(to))).toEqual([]);

    writeFileSync(victim, bytes.subarray(0, 100)); // truncated
    await expectCode(restoreDatabase(e.deps, { to }), 'E_OBJECT_CORRUPT');
    execFileSync('rm', [victim]);
    await expectCode(restoreDatabase(e.deps, { to }), 'E_OBJECT_MISSING');
    execFileSync('rm', [path.join(repoDir, r.entry.manifest.key)]);
    await expectCode(restoreDatabase(e.deps, { to }), 'E_OBJECT_MISSING');
    expect(readdirSync(path.dirname(to))).toEqual([]);
  });

  it('restores points across a shrink (VACUUM) and growth, in one pass or page by page', async () => {
    const e = await env({ rows: 6000 });
    const db = e.config.database.path;
    const expected: { id: string; sha: string }[] = [];
    const snap = async (mode: 'full' | 'incremental') => {
      exec(db, 'PRAGMA wal_checkpoint(TRUNCATE)');
      const sha = sha256(db);
      const r = await backupDatabase(e.deps, { mode });
      expected.push({ id: r.entry.id, sha });
      return r;
    };
    await snap('full');
    exec(db, 'DELETE FROM payments WHERE id > 1000; DELETE FROM orders WHERE id > 1000; VACUUM');
    const before = (await e.deps.repo.listPoints())[0]!.summary!.pageCount as number;
    const shrunk = await snap('incremental');
    expect(shrunk.facts.pageCount as number).toBeLessThan(before);
    exec(
      db,
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO customers (email) SELECT 'bulk' || i || '@example.com' FROM n",
    );
    await snap('incremental');
    exec(db, 'UPDATE customers SET email = upper(email) WHERE id % 3 = 0');
    await snap('incremental');
    for (const [i, p] of expected.entries()) {
      for (const overlayLimitBytes of [undefined, 0]) {
        const to = path.join(e.dir, 'r', `${i}-${overlayLimitBytes ?? 'overlay'}.sqlite`);
        const r = await restoreDatabase(e.deps, {
          to,
          pointId: p.id,
          ...(overlayLimitBytes !== undefined ? { overlayLimitBytes } : {}),
        });
        expect(r.sha256).toBe(p.sha);
        expect(sha256(to)).toBe(p.sha);
      }
    }
  });
});
