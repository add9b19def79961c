import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { backupDatabase, restoreDatabase } from '../../src/backup/database.js';
import { verifyRepository } from '../../src/backup/verify.js';
import { pruneRepository } from '../../src/backup/prune.js';
import { ManualClock } from '../../src/clock.js';
import { SafetynetError } from '../../src/errors.js';
import { useTestEnvs } from './env.js';
import { runCli } from '../helpers/cli.js';

const env = useTestEnvs();

function touch(db: string, n: number): void {
  const d = new Database(db);
  d.prepare('UPDATE orders SET total_cents = total_cents + 1 WHERE id % 50 = ?').run(n % 50);
  d.close();
}

describe('verify', () => {
  it('passes on a sound repository and names each damaged object and every point it breaks', async () => {
    const e = await env({ rows: 4000 });
    const full = await backupDatabase(e.deps, { mode: 'full' });
    touch(e.config.database.path, 1);
    const inc1 = await backupDatabase(e.deps, { mode: 'incremental' });
    touch(e.config.database.path, 2);
    const inc2 = await backupDatabase(e.deps, { mode: 'incremental' });
    const ok = await verifyRepository(e.deps, { readData: true });
    expect(ok).toMatchObject({ ok: true, points: 3, decrypted: true, problems: [] });

    const repoDir = e.deps.repo.storage.localPath!;
    // One flipped byte in the full point's last part: same size, so only --read-data sees it.
    const victim = full.entry.objects[full.entry.objects.length - 1]!.key;
    const bytes = readFileSync(path.join(repoDir, victim));
    bytes[bytes.length - 7]! ^= 0x40;
    writeFileSync(path.join(repoDir, victim), bytes);
    expect((await verifyRepository(e.deps, { readData: false })).ok).toBe(true);
    const bad = await verifyRepository(e.deps, { readData: true });
    expect(bad.ok).toBe(false);
    expect(bad.problems).toEqual([
      expect.objectContaining({
        key: victim,
        kind: 'checksum',
        points: [full.entry.id, inc1.entry.id, inc2.entry.id].sort(),
      }),
    ]);

    // A missing object of the newest incremental breaks only that point, and is seen without --read-data.
    const gone = inc2.entry.manifest.key;
    rmSync(path.join(repoDir, gone));
    const missing = await verifyRepository(e.deps, { readData: false });
    expect(missing.problems).toEqual([
      expect.objectContaining({ key: gone, kind: 'missing', points: [inc2.entry.id] }),
    ]);
  });

  it('checks stored checksums without the identity, and says it did not decrypt', async () => {
    const e = await env();
    const full = await backupDatabase(e.deps, { mode: 'full' });
    const noKey = await e.makeDeps({
      config: { ...e.config, backup: { ...e.config.backup, identity: undefined } },
    });
    const r = await verifyRepository(noKey, { readData: true });
    expect(r).toMatchObject({ ok: true, decrypted: false });
    expect(r.note).toMatch(/not decrypted/);
    const key = full.entry.objects[0]!.key;
    const file = path.join(e.deps.repo.storage.localPath!, key);
    writeFileSync(file, readFileSync(file).subarray(0, 50));
    const r2 = await verifyRepository(noKey, { readData: true });
    expect(r2.problems).toEqual([expect.objectContaining({ key, kind: 'size' })]);
  });

  it('the CLI exits 1 and prints the object and the points', async () => {
    const e = await env();
    const full = await backupDatabase(e.deps, { mode: 'full' });
    const key = full.entry.objects[0]!.key;
    const file = path.join(e.deps.repo.storage.localPath!, key);
    const b = readFileSync(file);
    b[200]! ^= 1;
    writeFileSync(file, b);
    const r = await runCli(['--config', e.configFile, 'verify', '--read-data']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`PROBLEM checksum: object ${key} does not match its checksum`);
    expect(r.stdout).toContain(`affects restore points: ${full.entry.id}`);
    expect(r.stdout).toMatch(/^FAILED: 1 restore points/m);
  });
});

describe('prune', () => {
  it('keeps what the policy keeps, removes the rest with reasons, and kept points still restore', async () => {
    const clock = new ManualClock(Date.parse('2026-10-01T03:00:00Z'));
    const e = await env({
      clock,
      rows: 1500,
      backup: { retention: { daily: 3, weekly: 2, monthly: 2, pointInTimeDays: 1 } },
    });
    // 20 days of a daily full at 03:00, then incrementals every 6 hours on the last two days.
    for (let day = 0; day < 20; day++) {
      touch(e.config.database.path, day);
      await backupDatabase(e.deps, { mode: 'full' });
      if (day >= 18) {
        for (let h = 1; h <= 3; h++) {
          clock.advance(6 * 3600_000);
          touch(e.config.database.path, day * 10 + h);
          await backupDatabase(e.deps, { mode: 'incremental' });
        }
        clock.advance(6 * 3600_000);
      } else {
        clock.advance(24 * 3600_000);
      }
    }
    const before = await e.deps.repo.listPoints();
    expect(before).toHaveLength(26);

    const dry = await pruneRepository(e.deps, { dryRun: true });
    expect(await e.deps.repo.listPoints()).toHaveLength(26);
    const keep = dry.decisions.filter((d) => d.keep).map((d) => d.id);
    const remove = dry.decisions.filter((d) => !d.keep);
    expect(remove.length).toBeGreaterThan(10);
    for (const d of remove) expect(d.reasons.join(' ')).not.toBe('');
    // Dailies: Oct 18-20; weeklies: W43 (Oct 20) and W42 (Oct 18); monthly: October (Oct 20);
    // the 1-day window: everything since Oct 19 21:00 plus the chain it needs (from Oct 19 03:00).
    const keptFull = dry.decisions.filter((d) => d.keep && d.kind === 'full').map((d) => d.time.slice(0, 10));
    expect(keptFull.sort()).toEqual(['2026-10-18', '2026-10-19', '2026-10-20']);
    expect(dry.decisions.filter((d) => d.keep && d.kind === 'incremental')).toHaveLength(6);

    const real = await pruneRepository(e.deps, { dryRun: false });
    expect(real.removed).toBe(remove.length);
    const after = await e.deps.repo.listPoints();
    expect(after.map((p) => p.id).sort()).toEqual([...keep].sort());
    // Nothing a kept point needs is gone; nothing a removed point alone needed remains.
    const repoDir = e.deps.repo.storage.localPath!;
    for (const p of after)
      for (const o of [...p.objects, p.manifest]) expect(existsSync(path.join(repoDir, o.key))).toBe(true);
    for (const d of remove) expect(existsSync(path.join(repoDir, 'data', d.id))).toBe(false);
    expect((await verifyRepository(e.deps, { readData: true })).ok).toBe(true);
    // Every kept point restores, including the newest incremental and the oldest monthly.
    for (const p of [after[0]!, after[after.length - 1]!]) {
      const r = await restoreDatabase(e.deps, {
        to: path.join(e.dir, 'out', `${p.id}.sqlite`),
        pointId: p.id,
        check: 'full',
      });
      expect(r.integrity).toBe('ok');
    }
  });

  it('never runs while a backup holds the lock, and sweeps leftovers of interrupted runs', async () => {
    const e = await env();
    await backupDatabase(e.deps, { mode: 'full' });
    const repoDir = e.deps.repo.storage.localPath!;
    const leftover = path.join(repoDir, 'data', '20260101T000000000Z-deadbe');
    mkdirSync(leftover, { recursive: true });
    writeFileSync(path.join(leftover, '000000.age'), 'interrupted');
    const held = await e.deps.repo.lock('backup db', true);
    await expect(pruneRepository(e.deps, { dryRun: false })).rejects.toBeInstanceOf(SafetynetError);
    await held.release();
    const r = await pruneRepository(e.deps, { dryRun: false });
    expect(r).toMatchObject({ removed: 0, orphans: 1 });
    expect(existsSync(path.join(leftover, '000000.age'))).toBe(false);
    expect(readdirSync(path.join(repoDir, 'catalog'))).toHaveLength(1);
  });
});
