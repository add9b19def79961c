/**
 * The SQLite store's search file (derived data beside the store): the background indexer thread,
 * parts, retention applied exactly once, migration from the schema-1 index inside the store, and
 * starting afresh when the store behind it changed.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { searchFilePath } from '../../src/log/store/sqlite/search-file.js';
import {
  mergeTextStep,
  PART_CRISIS_MERGE,
  syncTextIndex,
  TEXT_SLICE_ROWS,
} from '../../src/log/store/sqlite/text-index.js';
import type { AppendRow } from '../../src/log/store/types.js';
import type { LogFilter } from '../../src/log/types.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 20);

function rows(n: number, from = 0, spacingMs = 3_600_000, words = (i: number) => `entry ${i}`): AppendRow[] {
  const levels = ['info', 'info', 'warn', 'error', 'critical'] as const;
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      ts: T0 + i * spacingMs,
      level: levels[i % 5]!,
      category: i % 3 ? 'order' : 'email',
      message: words(i),
      details: '{}',
      orderId: null,
      errorStack: null,
    };
  });
}

/** Every entry matching the filter, through pages (the reference for counts). */
async function everything(store: SqliteLogStore, filter: LogFilter) {
  const out = [];
  let cursor: string | undefined;
  do {
    const p = await store.search(filter, { limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...p.entries);
    cursor = p.nextCursor;
  } while (cursor);
  return out;
}

/** Segments of the first part's FTS5 index (each has rows in its %_idx table). */
function segments(db: Database.Database): number {
  return db.prepare('SELECT count(DISTINCT segid) FROM idx.fts_1_idx').pluck().get() as number;
}

async function expectExactCounts(store: SqliteLogStore, filter: LogFilter): Promise<void> {
  const want = { info: 0, warn: 0, error: 0, critical: 0 };
  for (const e of await everything(store, filter)) want[e.level]++;
  expect(await store.countByLevel(filter)).toEqual({ counts: want, partial: false });
}

describe('SQLite search file', () => {
  it('is filled by a thread of its own while the writer goes on, and stops with the store', async () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    const store = SqliteLogStore.open(file, { indexThreadBacklog: 100 });
    expect(statSync(searchFilePath(file)).mode & 0o777).toBe(0o600);
    await store.append(
      rows(3000, 0, 60_000, (i) => `parcel ${i % 7 === 0 ? 'lost' : 'sent'} ${i}`),
      {
        deferIndex: true,
      },
    );
    // Nothing on this thread indexes (no maintain, no search): only the indexer thread can.
    const deadline = Date.now() + 20_000;
    while (store.ftsBacklog() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(store.ftsBacklog()).toBe(0);
    expect(await store.maintain(1000)).toBe(false);
    const lost = await everything(store, { text: 'lost' });
    expect(lost.length).toBe(Math.ceil(3000 / 7));
    await store.close();
    // Closed: the thread is gone and released the search file (it can be removed and rebuilt).
    rmSync(searchFilePath(file), { force: true });
    const again = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
    expect(again.ftsBacklog()).toBe(3000);
    expect(again.indexTextSync(Number.MAX_SAFE_INTEGER)).toBe(3000);
    expect((await everything(again, { text: 'lost' })).length).toBe(lost.length);
    again.closeSync();
  });

  it('indexes a backlog without merging, then merges once caught up (same results either way)', async () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    const store = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
    await store.append(
      rows(6 * TEXT_SLICE_ROWS, 0, 1000, (i) => `parcel ${i % 7 === 0 ? 'lost' : 'sent'} ${i}`),
      { deferIndex: true },
    );
    const c = store.searchConnection();
    expect(store.indexTextSync(Number.MAX_SAFE_INTEGER)).toBe(6 * TEXT_SLICE_ROWS);
    const config = Object.fromEntries(
      c.db.prepare('SELECT k, v FROM idx.fts_1_config').raw().all() as [string, number][],
    );
    expect(config).toMatchObject({ automerge: 0, crisismerge: PART_CRISIS_MERGE });
    // One segment per slice: FTS5's default (automerge 4) would have merged four of them already.
    expect(segments(c.db)).toBe(6);
    const lost = (await everything(store, { text: 'lost' })).map((e) => e.id);
    expect(lost.length).toBe(Math.ceil((6 * TEXT_SLICE_ROWS) / 7));
    // The writer's idle steps merge, one bounded step at a time, until nothing is left to merge.
    let steps = 0;
    while (await store.maintain(1000)) steps++;
    expect(steps).toBeGreaterThan(0);
    expect(segments(c.db)).toBe(1);
    expect((await everything(store, { text: 'lost' })).map((e) => e.id)).toEqual(lost);
    // Nothing left to merge: an idle step then writes nothing (no transaction on every part).
    const changes = c.db.prepare('SELECT total_changes()').pluck();
    const before = changes.get();
    expect(mergeTextStep(c)).toBe(false);
    expect(changes.get()).toBe(before);
    store.closeSync();
  });

  it('a merge that cannot run (search file full) never fails the store; it merges once there is room', async () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    const store = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
    await store.append(rows(4 * TEXT_SLICE_ROWS, 0, 1000), { deferIndex: true });
    expect(store.indexTextSync(Number.MAX_SAFE_INTEGER)).toBe(4 * TEXT_SLICE_ROWS);
    const c = store.searchConnection();
    expect(segments(c.db)).toBe(4);
    // No room to grow: the merge's writes fail with SQLITE_FULL.
    const pages = c.db.pragma('idx.page_count', { simple: true }) as number;
    c.db.pragma(`idx.max_page_count = ${pages}`);
    expect(() => mergeTextStep(c)).toThrow(/full/);
    expect(await store.maintain(1000)).toBe(false);
    expect(segments(c.db)).toBe(4);
    // Entries are still stored and found meanwhile.
    await store.append(rows(10, 4 * TEXT_SLICE_ROWS, 1000, () => 'parcel late'));
    expect((await everything(store, { text: 'late' })).length).toBe(10);
    c.db.pragma('idx.max_page_count = 1073741823');
    while (await store.maintain(1000));
    expect(segments(c.db)).toBe(1);
    store.closeSync();
  });

  it('the indexer thread merges what it left unmerged once it has caught up', async () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    const store = SqliteLogStore.open(file, { indexThreadBacklog: 100 });
    await store.append(rows(5 * TEXT_SLICE_ROWS, 0, 1000), { deferIndex: true });
    // Only the thread indexes and merges here (this thread neither searches nor maintains).
    const c = store.searchConnection();
    const deadline = Date.now() + 30_000;
    while ((store.ftsBacklog() > 0 || segments(c.db) !== 1) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(store.ftsBacklog()).toBe(0);
    expect(segments(c.db)).toBe(1);
    expect((await everything(store, { text: '17' })).map((e) => e.message)).toEqual(['entry 17']);
    await store.close();
  });

  it('splits the index into parts by month, drops a part retention emptied, and counts stay exact', async () => {
    const store = SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'));
    // Four-hourly entries from 20 January to the end of April: four months, four parts.
    await store.append(
      rows(600, 0, 4 * 3_600_000, (i) => `refund ${i % 4 ? 'sent' : 'declined'} number ${i}`),
    );
    const parts = () => store.searchConnection().read((st) => st.parts.map((p) => p.part));
    expect(parts()).toEqual([1, 2, 3, 4]);
    const filters: LogFilter[] = [
      {},
      { categories: ['email'] },
      { since: T0 + 3 * DAY + 1234, until: T0 + 40 * DAY - 5 },
      { minLevel: 'error', since: T0 + 10 * DAY },
      { text: 'declined', since: T0 + 20 * DAY },
      { text: 'refund', categories: ['email'], until: T0 + 70 * DAY },
    ];
    for (const f of filters) await expectExactCounts(store, f);
    // Everything of January and February expires: their parts go whole.
    const r = await store.prune({ cutoffs: {}, defaultCutoff: Date.UTC(2026, 2, 1), pauseMs: 0 });
    expect(r.total).toBe(240);
    expect(parts()).toEqual([3, 4]);
    const names = store
      .searchConnection()
      .db.prepare("SELECT name FROM idx.sqlite_master WHERE type = 'table' AND name LIKE 'fts_%'")
      .pluck()
      .all();
    expect(names).not.toContain('fts_1');
    expect(names).not.toContain('fts_2');
    for (const f of filters) await expectExactCounts(store, f);
    store.closeSync();
  });

  it('forgets entries retention deleted exactly once, even when the search file missed the batch', async () => {
    const store = SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'));
    await store.append(rows(100, 0, 3_600_000, (i) => `coupon ${i}`));
    // A prune batch whose search-file step never ran (a crash between the two commits): the rows
    // are gone from the store and recorded in text_pending, the search file still has them.
    const db = store.db;
    db.transaction(() => {
      db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'text_batch'").run();
      db.prepare(
        `INSERT INTO text_pending (batch, id, ts, category, level, message, body)
         SELECT (SELECT value FROM meta WHERE key = 'text_batch'), id, ts, category, level, message, ''
         FROM logs WHERE id <= 30`,
      ).run();
      db.prepare('DELETE FROM logs WHERE id <= 30').run();
    })();
    // Counts subtract what is pending; text finds nothing deleted.
    await expectExactCounts(store, {});
    await expectExactCounts(store, { since: T0 + 5 * 3_600_000 + 1, until: T0 + 60 * 3_600_000 });
    expect((await everything(store, { text: 'coupon' })).length).toBe(70);
    // The next step applies the batch, once; another step changes nothing.
    expect(syncTextIndex(store.searchConnection()).removed).toBe(30);
    expect(syncTextIndex(store.searchConnection()).removed).toBe(0);
    await expectExactCounts(store, {});
    await expectExactCounts(store, { text: 'coupon', since: T0 });
    const fts = store
      .searchConnection()
      .db.prepare("SELECT count(*) FROM idx.fts_1 WHERE fts_1 MATCH 'coupon'")
      .pluck()
      .get();
    expect(fts).toBe(70);
    store.closeSync();
  });

  it('starts afresh when the store behind it is an older copy that went on differently', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'logs.sqlite');
    const store = SqliteLogStore.open(file);
    await store.append(rows(10, 0, 60_000, (i) => `first life ${i}`));
    store.closeSync();
    copyFileSync(file, path.join(dir, 'backup.sqlite'));
    const later = SqliteLogStore.open(file);
    await later.append(rows(10, 10, 60_000, (i) => `vanished ${i}`));
    later.closeSync();
    // The store is restored from the copy (its search file stays: derived data nobody restores),
    // and new entries take the ids the vanished ones had, and more (so the search file's position
    // is inside the store again: only the entry there tells them apart).
    copyFileSync(path.join(dir, 'backup.sqlite'), file);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    const restored = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
    await restored.append(rows(15, 10, 60_000, (i) => `second life ${i}`));
    expect(await everything(restored, { text: 'vanished' })).toEqual([]);
    expect((await everything(restored, { text: 'life' })).length).toBe(25);
    await expectExactCounts(restored, {});
    restored.closeSync();
  });

  it('a damaged search file never keeps the store from opening: it is started afresh', async () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    const store = SqliteLogStore.open(file);
    await store.append(rows(30, 0, 60_000, (i) => `crate ${i}`));
    store.closeSync();
    writeFileSync(searchFilePath(file), 'this is not a database, but a damaged file '.repeat(200));
    const again = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
    expect((await everything(again, { text: 'crate' })).length).toBe(30);
    again.indexTextSync(Number.MAX_SAFE_INTEGER);
    expect(again.ftsBacklog()).toBe(0);
    await expectExactCounts(again, { text: 'crate' });
    again.closeSync();
  });

  it('keeps limited counts bounded while the index is far behind: only the newest unindexed entries are looked at', async () => {
    const store = SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'), { indexThreadBacklog: Infinity });
    await store.append(
      rows(2000, 0, 60_000, (i) => (i === 0 ? 'needle in the oldest entry' : `hay ${i}`)),
      { deferIndex: true },
    );
    expect(store.ftsBacklog()).toBe(2000);
    // 8 x 10 = 80 newest entries at most: the needle is not among them, and the result says so.
    const limited = await store.countByLevel({ text: 'needle' }, { limit: 10 });
    expect(limited).toEqual({ counts: { info: 0, warn: 0, error: 0, critical: 0 }, partial: true });
    expect((await store.countByLevel({ text: 'needle' })).counts.info).toBe(1);
    const all = await store.countByLevel({}, { limit: 10 });
    expect(all.partial).toBe(true);
    expect(await store.countByLevel({})).toEqual({
      counts: { info: 800, warn: 400, error: 400, critical: 400 },
      partial: false,
    });
    store.closeSync();
  });

  it('migrates a schema-1 store: its own index answers until the search file caught up, then it is dropped', async () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    makeSchema1Store(file, 50);
    const store = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
    expect(store.db.pragma('user_version', { simple: true })).toBe(2);
    expect(store.ftsBacklog()).toBe(0); // the old index covers every entry
    // "cafe" matches "café" only through a full-text index (a substring scan would not find it):
    // so this is the old index answering, before the search file has anything.
    expect((await everything(store, { text: 'cafe' })).length).toBe(10);
    store.indexTextSync(20); // half way
    expect((await everything(store, { text: 'cafe' })).length).toBe(10);
    await expectExactCounts(store, { text: 'cafe' });
    store.indexTextSync(Number.MAX_SAFE_INTEGER);
    expect((await everything(store, { text: 'cafe' })).length).toBe(10);
    await store.prune({ cutoffs: {}, defaultCutoff: 0, pauseMs: 0 });
    const legacy = store.db
      .prepare("SELECT count(*) FROM sqlite_master WHERE name = 'logs_fts'")
      .pluck()
      .get();
    expect(legacy).toBe(0);
    expect((await everything(store, { text: 'cafe' })).length).toBe(10);
    expect((await store.verifyChain()).ok).toBe(true);
    store.closeSync();
    expect(existsSync(searchFilePath(file))).toBe(true);
  });
});

/**
 * A store as safetynet wrote it before the search file (schema 1): the FTS5 table `logs_fts`
 * inside, filled up to `fts_upto`. Its entries go through a current store first (so the chain
 * fields are real), then the file is turned back into schema 1.
 */
function makeSchema1Store(file: string, n: number): void {
  const s = SqliteLogStore.open(file, { indexThreadBacklog: Infinity });
  s.appendSync(rows(n, 0, 60_000, (i) => (i % 5 === 0 ? `le café ${i}` : `order ${i}`)));
  s.closeSync();
  rmSync(searchFilePath(file), { force: true });
  const db = new Database(file);
  db.exec(`
    DROP TABLE text_pending;
    DELETE FROM meta WHERE key IN ('store_uid', 'text_batch');
    CREATE VIRTUAL TABLE logs_fts USING fts5 (
      message, body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
    INSERT INTO logs_fts (rowid, message, body) SELECT id, message, '' FROM logs;
    INSERT INTO meta (key, value) VALUES ('fts_upto', (SELECT max(id) FROM logs)), ('fts_deleted', 0);
    PRAGMA user_version = 1;
  `);
  db.close();
}
