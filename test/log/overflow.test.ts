/**
 * Bursts that do not fit in memory go to overflow files and are stored from there, in order, each
 * entry once (issue 13: "a burst never loses an entry while the disk has room"). Real loggers,
 * real files, a real SQLite store; the SIGKILL case is in crash.test.ts.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createLogger, isDurable } from '../../src/log/index.js';
import { OverflowFile, encodeRecord, parseRecords, readOverflowRange } from '../../src/log/overflow.js';
import { OVERFLOW_EXT, Spool } from '../../src/log/spool.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { decodeBatch, encodeRows } from '../../src/log/wire.js';
import { tempDir } from '../helpers/tmp.js';

async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function stored(file: string): { id: number; message: string; ts: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, message, ts FROM logs ORDER BY id').all() as {
      id: number;
      message: string;
      ts: number;
    }[];
  } finally {
    db.close();
  }
}

function verify(file: string) {
  const store = SqliteLogStore.open(file);
  try {
    return store.verifySync();
  } finally {
    store.closeSync();
  }
}

const overflowFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(OVERFLOW_EXT));

const row = (i: number, extra: Partial<AppendRow> = {}): AppendRow => ({
  ts: Date.UTC(2026, 0, 1) + i,
  level: 'info',
  category: 'order',
  message: `entry ${i}`,
  details: JSON.stringify({ i }),
  orderId: null,
  errorStack: null,
  ...extra,
});

describe('overflow records', () => {
  it('round-trip every field, whatever the text holds', () => {
    const rows: AppendRow[] = [
      row(0),
      row(1, {
        level: 'critical',
        category: 'webhook',
        message: 'Zahlung über 12 € — 👍 "quoted"\n\ttab',
        details: '{"rawBody":"{\\"a\\":1}","note":"ünïcödé"}',
        orderId: '1042',
        errorStack: 'Error: boom\n    at x (y.js:1:2)',
        webhook: { provider: 'stripe', eventId: 'evt_1' },
      }),
      row(2, { message: '', details: '{}', orderId: '', level: 'warn' }),
      // A lone surrogate cannot be UTF-8: it comes back as U+FFFD, the same length, as SQLite and
      // the chain hash see it too.
      row(3, { message: 'half \ud83d of an emoji', level: 'error' }),
    ];
    const rec = encodeRecord(encodeRows(rows));
    expect(rec.length % 8).toBe(0);
    const r = parseRecords(rec, 0);
    expect(r).toMatchObject({ next: rec.length, stopped: true });
    const back = decodeBatch(r.batches[0]!);
    expect(back.slice(0, 3)).toEqual(rows.slice(0, 3));
    expect(back[3]!.message).toBe('half \ufffd of an emoji');
  });

  it('end at a record cut short or damaged', () => {
    const a = encodeRecord(encodeRows([row(0), row(1)]));
    const b = encodeRecord(encodeRows([row(2)]));
    const both = Buffer.concat([a, b]);
    expect(parseRecords(both, 0).batches.map((x) => x.count)).toEqual([2, 1]);
    const cut = parseRecords(both.subarray(0, both.length - 3), 0);
    expect(cut).toMatchObject({ next: a.length, stopped: true });
    expect(cut.batches.length).toBe(1);
    const damaged = Buffer.from(both);
    damaged.writeUInt8(damaged.readUInt8(a.length + 40) ^ 0xff, a.length + 40);
    expect(parseRecords(damaged, 0).batches.length).toBe(1);
    // From a record boundary on, ranges are read as announced.
    const dir = tempDir();
    writeFileSync(path.join(dir, 'f'), both);
    expect(readOverflowRange(dir, 'f', a.length, both.length).map((r) => r.message)).toEqual(['entry 2']);
    expect(() => readOverflowRange(dir, 'f', 0, a.length + 8)).toThrow(/not whole records/);
  });
});

describe('overflow files left behind', () => {
  it('are replayed by the next logger from where the store got, skipping a torn last record, never twice', async () => {
    const dir = tempDir();
    const spoolDir = path.join(dir, 'spool');
    const storePath = path.join(dir, 'logs.sqlite');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!; // exited: surely not running
    const name = new Spool(spoolDir, { pid: deadPid, token: 'aaaaaaaa' }).newName(OVERFLOW_EXT);
    const f = OverflowFile.create(spoolDir, name);
    const first = f.append(encodeRecord(encodeRows([row(0), row(1)])), 2);
    f.append(encodeRecord(encodeRows([row(2), row(3), row(4)])), 3);
    f.append(encodeRecord(encodeRows([row(5)])), 1);
    f.syncSync();
    f.close();
    // The dead process's writer had stored the first record (its mark is committed with it) ...
    const store = SqliteLogStore.open(storePath);
    store.appendSync([row(0), row(1)], { spoolMark: { file: name, from: first.from, to: first.to } });
    store.closeSync();
    // ... and was killed while the logging thread wrote the last one.
    truncateSync(path.join(spoolDir, name), f.size - 5);

    const log = await createLogger({ storePath, spoolDir, notify: () => {} });
    await until(() => overflowFiles(spoolDir).length === 0);
    await log.order.info('after');
    await log.close();
    expect(stored(storePath).map((r) => r.message)).toEqual([
      'entry 0',
      'entry 1',
      'entry 2',
      'entry 3',
      'entry 4',
      'after',
    ]);
    expect(stored(storePath)[2]!.ts).toBe(Date.UTC(2026, 0, 1) + 2);
    expect(verify(storePath).ok).toBe(true);
  });
});

for (const writer of ['thread', 'inline'] as const) {
  describe(`a burst larger than the in-memory queue (${writer} writer)`, () => {
    it('stores every entry once, in the order logged, with intact chains, dropping none', async () => {
      const dir = tempDir();
      const storePath = path.join(dir, 'logs.sqlite');
      const spoolDir = path.join(dir, 'spool');
      const lastResort: string[] = [];
      const log = await createLogger({
        storePath,
        spoolDir,
        writer,
        maxQueueEntries: 500,
        notify: () => {},
        lastResort: (l) => lastResort.push(l),
      });
      const N = 60_000;
      const calls: Promise<string>[] = [];
      // Far faster than the store commits: 10,000 calls between turns of the event loop.
      for (let i = 0; i < N; i++) {
        const c = i % 3 === 0 ? log.payment : i % 3 === 1 ? log.order : log.inventory;
        calls.push(
          c.info(`m${i}`, { orderId: i % 7 === 0 ? i : undefined, details: { i, pad: 'x'.repeat(i % 50) } }),
        );
        if (i % 10_000 === 9_999) {
          // What did not fit in memory is on disk, waiting for the writer.
          if (i === 9_999) expect(overflowFiles(spoolDir).length).toBeGreaterThan(0);
          await new Promise((r) => setImmediate(r));
        }
      }
      const ids = await Promise.all(calls);
      expect(ids.filter((id) => !isDurable(id))).toEqual([]);
      const report = await log.close();
      expect(report).toEqual({ durable: true, unsaved: 0, dropped: 0 });
      expect(lastResort).toEqual([]);
      const rows = stored(storePath);
      expect(rows.length).toBe(N);
      rows.forEach((r, k) => expect(r.message).toBe(`m${k}`));
      expect(verify(storePath)).toMatchObject({ ok: true, checked: N, chains: 3 });
      // Stored overflow files are deleted, and their replay marks forgotten.
      await until(() => overflowFiles(spoolDir).length === 0);
      const db = new Database(storePath, { readonly: true });
      expect(db.prepare("SELECT count(*) FROM meta WHERE key LIKE 'spool:%'").pluck().get()).toBe(0);
      db.close();
    });

    it('keeps overflow records, in order, while the store is locked, and stores them once it is free', async () => {
      const dir = tempDir();
      const storePath = path.join(dir, 'logs.sqlite');
      const spoolDir = path.join(dir, 'spool');
      SqliteLogStore.open(storePath).closeSync();
      const log = await createLogger({
        storePath,
        spoolDir,
        writer,
        maxQueueEntries: 100,
        busyTimeoutMs: 50,
        retryMs: 30,
        notify: () => {},
      });
      await log.order.info('before');
      const locker = new Database(storePath);
      locker.exec('BEGIN EXCLUSIVE');
      const calls: Promise<string>[] = [];
      for (let i = 0; i < 3000; i++) calls.push(log.order.info(`locked ${i}`));
      const ids = await Promise.all(calls);
      // Durable meanwhile: in the writer's spool (the first ones) or in an overflow file.
      expect(ids.every((id) => id.startsWith('spool:'))).toBe(true);
      expect(ids.some((id) => id.includes(OVERFLOW_EXT))).toBe(true);
      locker.exec('COMMIT');
      locker.close();
      await log.order.info('after');
      await until(() => readdirSync(spoolDir).length === 0);
      await log.close();
      const msgs = stored(storePath).map((r) => r.message);
      expect(msgs).toEqual(['before', ...Array.from({ length: 3000 }, (_, i) => `locked ${i}`), 'after']);
      expect(verify(storePath).ok).toBe(true);
    });
  });
}

describe('overflow file format on disk', () => {
  it('is what the logger wrote: whole records, every entry of the burst once', async () => {
    const dir = tempDir();
    const storePath = path.join(dir, 'logs.sqlite');
    const spoolDir = path.join(dir, 'spool');
    SqliteLogStore.open(storePath).closeSync();
    const locker = new Database(storePath);
    locker.exec('BEGIN EXCLUSIVE'); // nothing leaves the overflow file meanwhile
    const log = await createLogger({
      storePath,
      spoolDir,
      maxQueueEntries: 50,
      busyTimeoutMs: 50,
      retryMs: 300,
      notify: () => {},
    });
    const calls: Promise<string>[] = [];
    for (let i = 0; i < 1000; i++) calls.push(log.order.info(`f${i}`));
    const ids = await Promise.all(calls);
    const files = overflowFiles(spoolDir);
    expect(files.length).toBe(1);
    const r = parseRecords(readFileSync(path.join(spoolDir, files[0]!)), 0);
    const inFile = r.batches.flatMap((b) => decodeBatch(b).map((x) => x.message));
    const viaFile = ids.flatMap((id, i) => (id.includes(OVERFLOW_EXT) ? [`f${i}`] : []));
    expect(inFile).toEqual(viaFile);
    // Each overflowed entry's id names its file and its place in it.
    const firstOverflow = ids.findIndex((id) => id.includes(OVERFLOW_EXT));
    expect(ids[firstOverflow]).toBe(`spool:${files[0]}:0`);
    locker.exec('COMMIT');
    locker.close();
    await until(() => readdirSync(spoolDir).length === 0);
    await log.close();
    expect(stored(storePath).map((x) => x.message)).toEqual(Array.from({ length: 1000 }, (_, i) => `f${i}`));
  });
});

describe('the spool folder as status shows it', () => {
  it("counts an overflow file a dead process left, not a live logger's burst on its way", () => {
    const dir = tempDir();
    const live = OverflowFile.create(dir, new Spool(dir).newName(OVERFLOW_EXT));
    live.append(encodeRecord(encodeRows([row(0)])), 1);
    expect(Spool.pendingBytes(dir)).toBe(0);
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const dead = OverflowFile.create(
      dir,
      new Spool(dir, { pid: deadPid, token: 'aaaaaaaa' }).newName(OVERFLOW_EXT),
    );
    dead.append(encodeRecord(encodeRows([row(1), row(2)])), 2);
    expect(Spool.pendingBytes(dir)).toBe(dead.size);
    live.close();
    dead.close();
  });
});
