/**
 * Finding 5 of issue 11: cutting the newest entries off the store and rewinding `chain_heads`
 * passed `logs verify`, and a replaced store verified as OK. Chain anchors in the backup
 * repository (src/log/anchor.ts) make both fail, while ordinary growth and retention still pass.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { backupDatabase } from '../../src/backup/database.js';
import { LocalStorage } from '../../src/backup/storage/local.js';
import { linkHash } from '../../src/log/chain.js';
import { checkAnchors, readAnchors, takeAnchor, writeAnchor } from '../../src/log/anchor.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { COLUMNS, type StoredRow } from '../../src/log/store/stored-row.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { useTestEnvs } from '../backup/env.js';

const T0 = Date.UTC(2026, 10, 1, 12);
const DAY = 86_400_000;
const env = useTestEnvs();

function rows(n: number, from: number, category = 'order', t0 = T0): AppendRow[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: t0 + (from + i) * 1000,
    level: 'info' as const,
    category,
    message: `${category} ${from + i}`,
    details: '{}',
    orderId: null,
    errorStack: null,
  }));
}

/** What an attacker with write access to the file does: drop the newest entries, rewind the head. */
function cutTail(file: string, category: string, keep: number): void {
  const db = new Database(file);
  db.prepare('DELETE FROM logs WHERE category = ? AND seq > ?').run(category, keep);
  db.prepare(
    'UPDATE chain_heads SET seq = ?, hash = (SELECT hash FROM logs WHERE category = ? AND seq = ?) WHERE category = ?',
  ).run(keep, category, keep, category);
  db.close();
}

/** A cleverer attacker: edits an entry and recomputes every later hash of its chain and the head. */
function rewriteFrom(file: string, category: string, seq: number): void {
  const db = new Database(file);
  const all = db
    .prepare(`SELECT ${COLUMNS}, seq, hash FROM logs WHERE category = ? ORDER BY seq`)
    .all(category) as (StoredRow & { seq: number; hash: Buffer })[];
  let prev = all.find((r) => r.seq === seq - 1)!.hash.toString('hex');
  for (const r of all.filter((x) => x.seq >= seq)) {
    const message = r.seq === seq ? 'nothing happened here' : r.message;
    const h = linkHash(prev, {
      id: r.id,
      seq: r.seq,
      ts: r.ts,
      level: ['info', 'warn', 'error', 'critical'][r.level]!,
      category: r.category,
      message,
      details: r.details,
      orderId: r.order_id,
      errorStack: r.error_stack,
    });
    db.prepare('UPDATE logs SET message = ?, hash = ? WHERE id = ?').run(
      message,
      Buffer.from(h, 'hex'),
      r.id,
    );
    prev = h;
  }
  db.prepare('UPDATE chain_heads SET hash = ? WHERE category = ?').run(Buffer.from(prev, 'hex'), category);
  db.close();
}

describe('chain anchors', () => {
  it('catch a cut tail, a rewritten chain and a replaced store that verifyChain alone accepts', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'logs.sqlite');
    mkdirSync(path.join(dir, 'repo'));
    const sink = new LocalStorage(path.join(dir, 'repo'));
    const store = SqliteLogStore.open(file);
    await store.append([...rows(20, 1), ...rows(5, 1, 'payment')]);
    await writeAnchor(sink, await takeAnchor(store, 'sqlite:test', T0));
    // Growth after the anchor: still fine (the anchored entry is looked up in the store).
    await store.append(rows(10, 21));
    await store.close();
    const check = async () => {
      const s = SqliteLogStore.open(file);
      try {
        return {
          chain: await s.verifyChain(),
          anchors: await checkAnchors(s, (await readAnchors(sink)).anchors),
        };
      } finally {
        await s.close();
      }
    };
    let r = await check();
    expect(r.chain.ok).toBe(true);
    expect(r.anchors).toMatchObject({ ok: true, anchors: 1, positions: { order: 20, payment: 5 } });

    // The attack of the finding: the chain verifies, the anchor does not.
    const copy = path.join(dir, 'copy.sqlite');
    writeFileSync(copy, '');
    const db = new Database(file);
    await db.backup(copy);
    db.close();
    cutTail(file, 'order', 15);
    r = await check();
    expect(r.chain.ok).toBe(true);
    expect(r.anchors.ok).toBe(false);
    expect(r.anchors.problem).toEqual({
      category: 'order',
      reason: expect.stringMatching(
        /the order chain ends at position 15, but the anchor of .* records position 20/,
      ),
    });

    // Rewriting the chain from before the anchor with recomputed hashes: also caught.
    rmSync(file);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    const db2 = new Database(copy);
    await db2.backup(file);
    db2.close();
    rewriteFrom(file, 'order', 18);
    r = await check();
    expect(r.chain.ok).toBe(true);
    expect(r.anchors.problem?.reason).toMatch(/entry 20 of the order chain does not match the anchor/);

    // A fresh store in its place: caught.
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    const fresh = SqliteLogStore.open(file);
    await fresh.append(rows(3, 1));
    await fresh.close();
    r = await check();
    expect(r.chain.ok).toBe(true);
    expect(r.anchors.problem?.reason).toMatch(/order chain ends at position 3.*or the store was replaced/);
  });

  it('accept retention removing anchored entries, and take the highest position of all anchors', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'repo'));
    const sink = new LocalStorage(path.join(dir, 'repo'));
    const store = SqliteLogStore.open(path.join(dir, 'logs.sqlite'));
    try {
      const old = T0 - 400 * DAY;
      await store.append(rows(10, 1, 'system', old));
      const low = await takeAnchor(store, 'x', T0);
      await store.append(rows(10, 11, 'system', old));
      await writeAnchor(sink, await takeAnchor(store, 'x', T0 + 1));
      await writeAnchor(sink, low); // a forged or older, lower anchor proves less, never more
      await store.append(rows(5, 21, 'system'));
      await store.prune({ cutoffs: {}, defaultCutoff: T0 - 300 * DAY, pauseMs: 0 });
      const r = await checkAnchors(store, (await readAnchors(sink)).anchors);
      expect(r).toMatchObject({ ok: true, anchors: 2, positions: { system: 20 } });
      expect((await store.verifyChain()).ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('every database backup writes one, and `logs verify` fails on a cut tail (CLI)', async () => {
    const e = await env();
    await e.deps.logger.order.info('order placed');
    await backupDatabase(e.deps, { mode: 'auto' });
    await e.deps.logger.order.info('order shipped');
    await e.deps.logger.order.info('order refunded');
    await e.close();
    const { anchors } = await readAnchors(new LocalStorage(path.join(e.dir, 'data/backups')));
    expect(anchors.length).toBe(1);
    const manual = await runCli(['logs', 'anchor'], { cwd: e.dir });
    expect(manual.code, manual.stderr).toBe(0);
    expect(manual.stdout).toMatch(/anchored \d+ chains in file:\/\//);
    const ok = await runCli(['logs', 'verify'], { cwd: e.dir });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/OK: the store holds every entry up to 2 anchors/);
    cutTail(e.config.logs.store.path, 'order', 1);
    const bad = await runCli(['logs', 'verify'], { cwd: e.dir });
    expect(bad.stdout).toMatch(/^OK: \d+ entries/); // the chains alone still verify ...
    expect(bad.stdout).toMatch(/BROKEN: category order: the order chain ends at position 1, but the anchor/);
    expect(bad.code).toBe(1); // ... the anchors do not
    const chainsOnly = await runCli(['logs', 'verify', '--no-anchors'], { cwd: e.dir });
    expect(chainsOnly.code).toBe(0);
  });
});
