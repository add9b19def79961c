/**
 * The machine's clock set back an hour between backups. Before, the next point was stamped an
 * hour before the newest one, sorted before it, and `restore db` (newest point) silently brought
 * back the older data: everything written after the step was missing from the restore. Points are
 * now stamped after the newest one while the clock is behind, and `status` says the clock is behind.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { backupDatabase, restoreDatabase } from '../../src/backup/database.js';
import { backupAll } from '../../src/backup/backup-all.js';
import { buildStatus } from '../../src/backup/status.js';
import { pointTimeAfter, clockBehindMs } from '../../src/backup/repo/point-time.js';
import { ManualClock } from '../../src/clock.js';
import { useTestEnvs } from './env.js';

const HOUR = 3_600_000;

function addOrder(file: string, note: string): void {
  const db = new Database(file);
  try {
    db.prepare("INSERT INTO orders (customer_id, status, total_cents, note) VALUES (1, 'paid', 100, ?)").run(
      note,
    );
  } finally {
    db.close();
  }
}

function notes(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db.prepare("SELECT note FROM orders WHERE note LIKE 'step-%' ORDER BY id").all() as { note: string }[]
    ).map((r) => r.note);
  } finally {
    db.close();
  }
}

describe('restore points when the clock is set back', () => {
  const env = useTestEnvs();

  it('a backup after the clock went back an hour is the newest point, and restore brings back its data', async () => {
    const clock = new ManualClock(Date.parse('2026-05-01T10:00:00Z'));
    const e = await env({ clock });
    const db = e.config.database.path;
    addOrder(db, 'step-before');
    const before = await backupDatabase(e.deps, { mode: 'full' });
    clock.advance(60_000);
    clock.set(clock.now() - HOUR); // 09:01: set back an hour
    addOrder(db, 'step-after-1');
    const after1 = await backupDatabase(e.deps, { mode: 'auto' });
    addOrder(db, 'step-after-2');
    const after2 = await backupDatabase(e.deps, { mode: 'auto' });

    expect(after1.kind).toBe('incremental');
    expect(after1.entry.parent).toBe(before.entry.id);
    expect(Date.parse(after1.entry.time)).toBe(Date.parse(before.entry.time) + 1);
    expect(Date.parse(after2.entry.time)).toBe(Date.parse(before.entry.time) + 2);
    const ids = (await e.deps.repo.listPoints()).filter((p) => p.source === 'db').map((p) => p.id);
    expect(ids).toEqual([before.entry.id, after1.entry.id, after2.entry.id]);

    const to = path.join(e.dir, 'restored.sqlite');
    const r = await restoreDatabase(e.deps, { to });
    expect(r.point.id).toBe(after2.entry.id);
    expect(notes(to)).toEqual(['step-before', 'step-after-1', 'step-after-2']);

    const status = await buildStatus(e.deps);
    expect(status.warnings.join('\n')).toMatch(/clock .* is 5\d min .*behind the newest restore point/);
  });

  it('backup all after the step stamps the whole set after every point already there', async () => {
    const clock = new ManualClock(Date.parse('2026-05-01T10:00:00Z'));
    const e = await env({ clock });
    const first = await backupAll(e.deps);
    clock.set(Date.parse(first.time) - HOUR);
    const second = await backupAll(e.deps);
    expect(Date.parse(second.time)).toBeGreaterThan(Date.parse(first.time));
    const newestDb = (await e.deps.repo.listPoints()).filter((p) => p.source === 'db').at(-1)!;
    expect(newestDb.id).toBe(second.database.entry.id);
    expect(second.files.entry.time).toBe(second.time);
  });

  it('pointTimeAfter: the clock when it is past the newest point, else one millisecond after it', () => {
    const points = [{ time: '2026-05-01T10:00:00.000Z' }, { time: '2026-05-01T09:00:00.000Z' }];
    expect(pointTimeAfter(points, Date.parse('2026-05-01T11:00:00Z'))).toBe(
      Date.parse('2026-05-01T11:00:00Z'),
    );
    expect(pointTimeAfter(points, Date.parse('2026-05-01T09:30:00Z'))).toBe(
      Date.parse('2026-05-01T10:00:00.001Z'),
    );
    expect(pointTimeAfter([], 5)).toBe(5);
    expect(clockBehindMs(points, Date.parse('2026-05-01T09:30:00Z'))).toBe(30 * 60_000);
    expect(clockBehindMs(points, Date.parse('2026-05-01T10:30:00Z'))).toBe(0);
  });
});
