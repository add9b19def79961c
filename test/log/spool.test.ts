/**
 * Store unavailable -> spool -> replay, with the store made really unavailable: its path blocked
 * by a regular file (ENOTDIR, which root cannot bypass), or its database locked by another
 * connection for longer than the writer waits.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { ManualClock } from '../../src/clock.js';
import { createLogger } from '../../src/log/index.js';
import { Spool } from '../../src/log/spool.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { tempDir } from '../helpers/tmp.js';

async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function storedMessages(file: string): { message: string; ts: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT message, ts FROM logs ORDER BY id').all() as { message: string; ts: number }[];
  } finally {
    db.close();
  }
}

for (const writer of ['thread', 'inline'] as const) {
  describe(`spool (${writer} writer)`, () => {
    it('spools while the store path cannot be created, then replays in order with the original times', async () => {
      const dir = tempDir();
      const blocker = path.join(dir, 'data');
      writeFileSync(blocker, 'not a folder'); // data/logs.sqlite cannot exist while data is a file
      const storePath = path.join(blocker, 'logs.sqlite');
      const spoolDir = path.join(dir, 'spool');
      const notices: string[] = [];
      const clock = new ManualClock(Date.UTC(2026, 10, 26, 9, 0, 0));
      const log = await createLogger({
        storePath,
        spoolDir,
        writer,
        retryMs: 30,
        clock,
        notify: (t) => notices.push(t),
      });
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        clock.advance(1000);
        ids.push(await log.order.info(`while down ${i}`, { details: { i } }));
      }
      expect(ids.every((id) => id.startsWith('spool:'))).toBe(true);
      expect(notices.join('\n')).toMatch(/cannot be written .*spool/);
      // Durable in the spool: the file holds every entry already.
      const files = readdirSync(spoolDir).filter((f) => f.endsWith('.ndjson'));
      expect(files.length).toBe(1);
      expect(readFileSync(path.join(spoolDir, files[0]!), 'utf8').trim().split('\n').length).toBe(30);

      rmSync(blocker); // the operator fixes the folder
      clock.advance(1000);
      // The writer retries on its own (backing off) and replays the spool without new entries.
      await until(() => readdirSync(spoolDir).filter((f) => f.endsWith('.ndjson')).length === 0);
      const back = await log.order.info('after recovery');
      expect(back).toMatch(/^\d+$/);
      await log.flush();
      const rows = storedMessages(storePath);
      expect(rows.map((r) => r.message)).toEqual([
        ...Array.from({ length: 30 }, (_, i) => `while down ${i}`),
        'after recovery',
      ]);
      expect(rows[0]!.ts).toBe(Date.UTC(2026, 10, 26, 9, 0, 1));
      expect(rows[29]!.ts).toBe(Date.UTC(2026, 10, 26, 9, 0, 30));
      expect(readdirSync(spoolDir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
      expect(notices.join('\n')).toMatch(/writable again; replayed 30 spooled entries/);
      expect((await log.store.search({ text: 'down' }, { limit: 100 })).entries.length).toBe(30);
      expect((await log.store.verifyChain()).ok).toBe(true);
      await log.close();
    });

    it('spools while another connection holds the database locked, and replays when it lets go', async () => {
      const dir = tempDir();
      const storePath = path.join(dir, 'logs.sqlite');
      const spoolDir = path.join(dir, 'spool');
      SqliteLogStore.open(storePath).closeSync(); // the store exists
      const locker = new Database(storePath);
      locker.exec('BEGIN EXCLUSIVE');
      const log = await createLogger({
        storePath,
        spoolDir,
        writer,
        busyTimeoutMs: 100,
        retryMs: 30,
        notify: () => {},
      });
      const pending = Array.from({ length: 200 }, (_, i) => log.payment.info(`locked ${i}`));
      const ids = await Promise.all(pending);
      expect(ids.every((id) => id.startsWith('spool:'))).toBe(true);
      locker.exec('COMMIT');
      locker.close();
      await until(() => readdirSync(spoolDir).filter((f) => f.endsWith('.ndjson')).length === 0);
      await log.payment.info('unlocked');
      await log.flush();
      const msgs = storedMessages(storePath).map((r) => r.message);
      expect(msgs.length).toBe(201);
      expect(msgs.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => `locked ${i}`));
      expect(msgs[200]).toBe('unlocked');
      await log.close();
    });
  });
}

describe('spool files left behind', () => {
  it('replays the spool of a process that died, skipping a torn last line, and never twice', async () => {
    const dir = tempDir();
    const spoolDir = path.join(dir, 'spool');
    const storePath = path.join(dir, 'logs.sqlite');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!; // exited: surely not running
    const dead = new Spool(spoolDir, { pid: deadPid, token: 'aaaaaaaa' });
    const row = (i: number): AppendRow => ({
      ts: Date.UTC(2026, 0, 1) + i,
      level: 'warn',
      category: 'order',
      message: `from the dead ${i}`,
      details: JSON.stringify({ i }),
      orderId: String(i),
      errorStack: null,
    });
    dead.append([row(0), row(1), row(2)]);
    dead.append([row(3)]);
    const file = dead.ownFile!;
    dead.close();
    // A crash in the middle of a write leaves a partial line (never acknowledged).
    writeFileSync(
      path.join(spoolDir, file),
      readFileSync(path.join(spoolDir, file), 'utf8') + '{"ts":17,"lev',
    );
    // A live process's spool (this one, other logger) must not be touched.
    const live = new Spool(spoolDir);
    live.append([row(99)]);

    const log = await createLogger({ storePath, spoolDir, notify: () => {} });
    await log.flush();
    await until(async () => (await log.store.countByLevel({})).counts.warn === 4);
    const entries = (await log.store.search({})).entries;
    expect(entries.map((e) => e.message)).toEqual([
      'from the dead 3',
      'from the dead 2',
      'from the dead 1',
      'from the dead 0',
    ]);
    expect(entries[3]).toMatchObject({
      timestamp: '2026-01-01T00:00:00.000Z',
      order_id: '0',
      details: { i: 0 },
    });
    expect(existsSync(path.join(spoolDir, file))).toBe(false);
    expect(existsSync(path.join(spoolDir, live.ownFile!))).toBe(true);
    await log.close();
    live.close();

    // A second logger finds nothing more to replay (no duplicates).
    const again = await createLogger({ storePath, spoolDir, notify: () => {} });
    await again.order.info('x');
    expect((await again.store.countByLevel({})).counts.warn).toBe(4);
    await again.close();
  });

  it('ignores files that are not spool files and spool files of other hosts', async () => {
    const dir = tempDir();
    const spoolDir = path.join(dir, 'spool');
    mkdirSync(spoolDir, { recursive: true });
    writeFileSync(path.join(spoolDir, 'notes.txt'), 'hello');
    const other = new Spool(spoolDir, { host: `not-${hostname()}`, pid: 1, token: 'bbbbbbbb' });
    other.append([
      {
        ts: 1,
        level: 'info',
        category: 'order',
        message: 'elsewhere',
        details: '{}',
        orderId: null,
        errorStack: null,
      },
    ]);
    other.close();
    const log = await createLogger({ storePath: path.join(dir, 'logs.sqlite'), spoolDir, notify: () => {} });
    await log.order.info('here');
    expect((await log.store.search({})).entries.map((e) => e.message)).toEqual(['here']);
    await log.close();
    expect(readdirSync(spoolDir).length).toBe(2);
  });
});
