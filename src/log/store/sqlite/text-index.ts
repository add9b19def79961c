/**
 * Filling the SQLite store's search file (sqlite/search-file.ts) after entries commit, forgetting
 * what retention deleted, and keeping its FTS5 tables merged.
 *
 * Everything that writes the search file goes through `syncTextIndex`: one transaction that
 * (1) takes the search file's write lock, (2) reads the store once (one snapshot), (3) applies the
 * retention batches recorded in the store's `text_pending` since the last step (removing those
 * entries from the index and the counts), then (4) indexes and counts the entries after `upto`.
 * A batch is applied by the first step whose snapshot shows it, and every earlier step saw its
 * entries still present, so an entry the index holds is removed exactly once and an entry deleted
 * before it was indexed is never added. Crashing anywhere loses nothing: the search file commits
 * its watermark with its content, and `text_pending` is only emptied up to what it applied.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PRUNE_PAUSE_MS } from './common.js';
import type { SearchConnection, TextPart, TextState } from './search-file.js';

/**
 * Entries per indexing transaction: each pays FTS5's per-commit costs (a new segment, merges), and
 * it is how long another process's step may wait for the search file. 5,000 take about 10 ms.
 */
export const TEXT_SLICE_ROWS = 5000;

/**
 * A part holds at most this many entries (and one calendar month). FTS5 merges segments as they
 * accumulate; merging segments larger than the page cache re-read from the OS every page they
 * touch, which is what made indexing 3-4 times slower per entry past 1M entries in one table
 * (bench/log/fts-growth.ts). Parts keep every merge that small.
 */
export const PART_MAX_ROWS = 1_000_000;

/** The raw webhook body indexed with an entry: UTF-8 bodies of `webhook` entries (alias `l`). */
export const BODY_SQL = `coalesce(CASE WHEN l.category = 'webhook' AND json_valid(l.details)
  AND json_extract(l.details, '$.rawBodyEncoding') = 'utf8' THEN json_extract(l.details, '$.rawBody') END, '')`;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** SQL for the hour (or day) number of `ts`, rounding down also before 1970. */
export function bucketSql(column: string, ms: number): string {
  return `((${column} - ((${column} % ${ms}) + ${ms}) % ${ms}) / ${ms})`;
}

/** The FTS5 table definition of a part (contentless: the store holds the text). */
const PART_DDL = `(message, body, content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2')`;

/**
 * Segments one level of a part may hold before FTS5 merges them inside an indexing step (its
 * 'crisismerge'). Parts are created with FTS5's automatic merging off: by default every commit
 * also merges earlier segments (four to a level), which was 35-40% of the indexing CPU, so during
 * a burst the index fell further behind (bench/log/fts-merge.ts, 1M entries in 5,000-entry
 * slices: 3.16-3.30 µs per entry with FTS5's default merging, 2.03-2.11 µs without). Merging
 * happens instead in idle steps once the index has caught up (mergeTextStep): 0.68 µs per entry,
 * off the critical path. 256 is past the 200 segments a full part gets from 5,000-entry slices,
 * so a burst never merges; it bounds what a search must visit on a machine too busy to be idle.
 */
export const PART_CRISIS_MERGE = 256;

/**
 * Pages one idle merge step writes at most. Merging a 1M burst took 19 steps, the longest 61-63
 * ms of holding the search file's write lock (readers do not wait for it); 64 pages took 66
 * steps, the longest no shorter (54 ms), and 30% more CPU in all.
 */
export const MERGE_STEP_PAGES = 256;

/** What one step did. */
export interface SyncResult {
  /** Entries added to the index. */
  indexed: number;
  /** Entries removed (retention), and the search file was started afresh. */
  removed: number;
  reset: boolean;
  /** The index's watermark after the step. */
  upto: number;
}

/**
 * One step (see the module comment): applies retention's pending batches, then indexes up to
 * `maxRows` new entries. Throws what SQLite throws (the caller retries later).
 */
export function syncTextIndex(c: SearchConnection, maxRows = TEXT_SLICE_ROWS): SyncResult {
  return c.db.transaction((): SyncResult => {
    // The search file's write lock first (a deferred transaction writing only `idx` never takes
    // the store's), so no other process's step runs between our snapshot and our commit.
    c.stmt("UPDATE idx.meta SET value = value WHERE key = 'upto'").run();
    let state = c.state();
    let reset = false;
    if (!state.usable) {
      resetSearchFile(c);
      state = c.state();
      reset = true;
    }
    const removed = applyPending(c, state);
    const indexed = indexNew(c, state, maxRows);
    return { indexed, removed, reset, upto: state.upto };
  })();
}

/** Starts the search file afresh for this store (its `store_uid`, nothing indexed). */
function resetSearchFile(c: SearchConnection): void {
  for (const p of c.stmt('SELECT part FROM idx.parts').pluck().all() as number[])
    c.db.exec(`DROP TABLE IF EXISTS idx.fts_${p}`);
  c.db.exec('DELETE FROM idx.parts; DELETE FROM idx.counts_hour; DELETE FROM idx.counts_day;');
  const meta = (key: string) => c.stmt('SELECT value FROM main.meta WHERE key = ?').pluck().get(key);
  const set = c.stmt('INSERT OR REPLACE INTO idx.meta (key, value) VALUES (?, ?)');
  set.run('upto', 0);
  set.run('upto_hash', null);
  set.run('store_uid', (meta('store_uid') as string | undefined) ?? null);
  // Batches recorded so far removed entries this fresh index will never see.
  set.run('applied', Number(meta('text_batch') ?? 0));
}

/**
 * Removes the entries of retention batches not applied yet from the index and the counts; drops
 * parts left empty. Only entries up to `upto` were ever indexed. Returns how many it removed.
 */
function applyPending(c: SearchConnection, state: TextState): number {
  const top = c
    .stmt('SELECT max(batch) FROM main.text_pending WHERE batch > ?')
    .pluck()
    .get(state.applied) as number | null;
  if (top === null) return 0;
  const range = c
    .stmt('SELECT min(id) AS lo, max(id) AS hi FROM main.text_pending WHERE batch > ? AND id <= ?')
    .get(state.applied, state.upto) as { lo: number | null; hi: number | null };
  let removed = 0;
  if (range.lo !== null && range.hi !== null) {
    const live = c.stmt('UPDATE idx.parts SET live = live - ? WHERE part = ?');
    for (const p of state.parts) {
      if (p.lastId < range.lo || p.firstId > range.hi) continue;
      const lo = p.firstId;
      const hi = Math.min(p.lastId, state.upto);
      const n = c
        .stmt('SELECT count(*) FROM main.text_pending WHERE batch > ? AND id >= ? AND id <= ?')
        .pluck()
        .get(state.applied, lo, hi) as number;
      if (n === 0) continue;
      // FTS5 removes an entry from a contentless table given the text that was indexed.
      c.stmt(
        `INSERT INTO ${p.table} (${p.name}, rowid, message, body)
         SELECT 'delete', id, message, body FROM main.text_pending WHERE batch > ? AND id >= ? AND id <= ?`,
      ).run(state.applied, lo, hi);
      live.run(n, p.part);
      removed += n;
    }
    const groups = c
      .stmt(
        `SELECT ${bucketSql('ts', HOUR_MS)} AS hour, category, level, count(*) AS n FROM main.text_pending
         WHERE batch > ? AND id <= ? GROUP BY 1, 2, 3`,
      )
      .all(state.applied, state.upto) as { hour: number; category: string; level: number; n: number }[];
    addCounts(
      c,
      groups.map((g) => ({ ...g, n: -g.n })),
    );
    dropEmptyParts(c, state.parts);
  }
  c.stmt("UPDATE idx.meta SET value = ? WHERE key = 'applied'").run(top);
  return removed;
}

/** Drops parts whose entries are all gone (never the newest: new entries go there). */
function dropEmptyParts(c: SearchConnection, parts: TextPart[]): void {
  const newest = parts.length ? parts[parts.length - 1]!.part : -1;
  const empty = c
    .stmt('SELECT part FROM idx.parts WHERE live <= 0 AND part <> ?')
    .pluck()
    .all(newest) as number[];
  for (const p of empty) {
    c.db.exec(`DROP TABLE IF EXISTS idx.fts_${p}`);
    c.stmt('DELETE FROM idx.parts WHERE part = ?').run(p);
  }
}

/** Adds (or, with negative n, subtracts) entry counts per hour and per day. */
function addCounts(
  c: SearchConnection,
  groups: { hour: number; category: string; level: number; n: number }[],
): void {
  if (groups.length === 0) return;
  const hour = c.stmt(
    `INSERT INTO idx.counts_hour (hour, category, level, n) VALUES (?, ?, ?, ?)
     ON CONFLICT (hour, category, level) DO UPDATE SET n = n + excluded.n`,
  );
  const day = c.stmt(
    `INSERT INTO idx.counts_day (day, category, level, n) VALUES (?, ?, ?, ?)
     ON CONFLICT (day, category, level) DO UPDATE SET n = n + excluded.n`,
  );
  const days = new Map<string, { day: number; category: string; level: number; n: number }>();
  for (const g of groups) {
    hour.run(g.hour, g.category, g.level, g.n);
    const d = Math.floor((g.hour * HOUR_MS) / DAY_MS);
    const key = `${d}\u0000${g.category}\u0000${g.level}`;
    const have = days.get(key);
    if (have) have.n += g.n;
    else days.set(key, { day: d, category: g.category, level: g.level, n: g.n });
  }
  for (const d of days.values()) day.run(d.day, d.category, d.level, d.n);
  if (groups.some((g) => g.n < 0)) {
    c.stmt('DELETE FROM idx.counts_hour WHERE n <= 0').run();
    c.stmt('DELETE FROM idx.counts_day WHERE n <= 0').run();
  }
}

/** UTC month of a time, as year * 12 + month (NaN for a time JavaScript cannot represent). */
function monthOf(ts: number): number {
  const d = new Date(ts);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/**
 * Indexes and counts up to `maxRows` entries after `state.upto`, into the newest part or new ones
 * (a new part starts at the first entry of a later month, or when the part is full). Updates the
 * watermark. Returns how many it indexed.
 */
function indexNew(c: SearchConnection, state: TextState, maxRows: number): number {
  const hi = c
    .stmt('SELECT max(id) FROM (SELECT id FROM main.logs WHERE id > ? ORDER BY id LIMIT ?)')
    .pluck()
    .get(state.upto, maxRows) as number | null;
  if (hi === null) return 0;
  let part: TextPart | undefined = state.parts[state.parts.length - 1];
  let from = state.upto;
  let total = 0;
  while (from < hi) {
    const firstTs = c
      .stmt('SELECT ts FROM main.logs WHERE id > ? AND id <= ? ORDER BY id LIMIT 1')
      .pluck()
      .get(from, hi) as number | undefined;
    if (firstTs === undefined) break;
    const month = monthOf(firstTs);
    if (!part || part.inserted >= PART_MAX_ROWS || month > part.month)
      part = newPart(c, part, from + 1, Number.isFinite(month) ? month : (part?.month ?? 0));
    // Now the first entry belongs to `part`. Index up to the part's room, and stop before the
    // first entry of a later month (the next turn starts a new part there).
    let end = c
      .stmt('SELECT max(id) FROM (SELECT id FROM main.logs WHERE id > ? AND id <= ? ORDER BY id LIMIT ?)')
      .pluck()
      .get(from, hi, PART_MAX_ROWS - part.inserted) as number;
    const nextMonth = Date.UTC(Math.floor((part.month + 1) / 12), (part.month + 1) % 12, 1);
    const later = c
      .stmt('SELECT min(id) FROM main.logs WHERE id > ? AND id <= ? AND ts >= ?')
      .pluck()
      .get(from, end, nextMonth) as number | null;
    // (`later` is past the first entry, whose month is not later than the part's.)
    if (later !== null) end = later - 1;
    c.stmt(
      `INSERT INTO ${part.table} (rowid, message, body)
       SELECT l.id, l.message, ${BODY_SQL} FROM main.logs l WHERE l.id > ? AND l.id <= ?`,
    ).run(from, end);
    const groups = c
      .stmt(
        `SELECT ${bucketSql('ts', HOUR_MS)} AS hour, category, level, count(*) AS n, min(ts) AS lo, max(ts) AS hi
         FROM main.logs WHERE id > ? AND id <= ? GROUP BY 1, 2, 3`,
      )
      .all(from, end) as {
      hour: number;
      category: string;
      level: number;
      n: number;
      lo: number;
      hi: number;
    }[];
    addCounts(c, groups);
    let n = 0;
    let lo = part.minTs ?? Infinity;
    let top = part.maxTs ?? -Infinity;
    for (const g of groups) {
      n += g.n;
      lo = Math.min(lo, g.lo);
      top = Math.max(top, g.hi);
    }
    c.stmt(
      'UPDATE idx.parts SET last_id = ?, min_ts = ?, max_ts = ?, inserted = inserted + ?, live = live + ? WHERE part = ?',
    ).run(end, lo, top, n, n, part.part);
    part = { ...part, lastId: end, minTs: lo, maxTs: top, inserted: part.inserted + n, live: part.live + n };
    total += n;
    from = end;
  }
  const hash = c.stmt('SELECT hash FROM main.logs WHERE id = ?').pluck().get(hi) as Buffer | undefined;
  c.stmt("UPDATE idx.meta SET value = ? WHERE key = 'upto'").run(hi);
  c.stmt("UPDATE idx.meta SET value = ? WHERE key = 'upto_hash'").run(hash ?? null);
  state.upto = hi;
  return total;
}

/** Creates the FTS5 table of a new part starting at `firstId`. */
function newPart(c: SearchConnection, prev: TextPart | undefined, firstId: number, month: number): TextPart {
  const part = (prev?.part ?? 0) + 1;
  c.db.exec(`CREATE VIRTUAL TABLE idx.fts_${part} USING fts5 ${PART_DDL}`);
  // Merging waits for idle steps (see PART_CRISIS_MERGE); the settings are stored with the table.
  c.db.exec(`INSERT INTO idx.fts_${part} (fts_${part}, rank) VALUES ('automerge', 0)`);
  c.db.exec(`INSERT INTO idx.fts_${part} (fts_${part}, rank) VALUES ('crisismerge', ${PART_CRISIS_MERGE})`);
  c.stmt(
    'INSERT INTO idx.parts (part, first_id, last_id, min_ts, max_ts, month, inserted, live) VALUES (?, ?, ?, NULL, NULL, ?, 0, 0)',
  ).run(part, firstId, firstId - 1, month);
  return {
    part,
    table: `idx.fts_${part}`,
    name: `fts_${part}`,
    firstId,
    lastId: firstId - 1,
    minTs: null,
    maxTs: null,
    month,
    inserted: 0,
    live: 0,
  };
}

/**
 * Entries committed but not yet searchable through an index (the search file, or a schema-1
 * store's own index while the search file catches up). Reads in one transaction.
 */
export function textBacklog(c: SearchConnection): number {
  return c.read((st) => Math.max(0, st.nextId - 1 - Math.max(st.upto, st.legacyUpto)));
}

/** Entries the search file has not indexed yet (its own work left, legacy index or not). */
export function textWorkLeft(c: SearchConnection): number {
  return c.read((st) => Math.max(0, st.nextId - 1 - st.upto));
}

/**
 * FTS5 'merge' steps on every part with a positive page budget (merging segments of the same
 * level, as automerge does while inserting), in short transactions with pauses between, until no
 * part has anything left to merge. Fewer segments make text searches cheaper. Returns the longest
 * step, ms. (A negative budget, an incremental 'optimize', is compactTextIndex.)
 */
export async function mergeTextIndex(
  c: SearchConnection,
  pauseMs = DEFAULT_PRUNE_PAUSE_MS,
  pagesPerStep = 64,
  maxSteps = 2000,
): Promise<number> {
  return mergeSteps(c, pagesPerStep, pauseMs, maxSteps);
}

/**
 * Rewrites each part's FTS5 index in full (FTS5 'merge' with a negative budget: an incremental
 * 'optimize'), dropping what retention removed for good, in steps with pauses between. Only the
 * search file is locked meanwhile (writers of the store never wait for it). Returns the longest
 * step, ms.
 */
export async function compactTextIndex(
  c: SearchConnection,
  pauseMs = DEFAULT_PRUNE_PAUSE_MS,
  pagesPerStep = 128,
  maxSteps = 20_000,
): Promise<number> {
  return mergeSteps(c, -pagesPerStep, pauseMs, maxSteps);
}

/**
 * One idle step of merging: FTS5 'merge' with a budget of `pages` on the newest part that has
 * segments to merge (four or more on one level), in a transaction of its own. Returns true when it
 * merged something (more may be left), false when no part has anything to merge. Throws what
 * SQLite throws (busy: the caller tries later).
 */
export function mergeTextStep(c: SearchConnection, pages = MERGE_STEP_PAGES): boolean {
  if (!c.writable) return false;
  let merged = mergedParts.get(c);
  if (!merged) mergedParts.set(c, (merged = new Map()));
  for (const p of c.read((st) => st.parts).reverse()) {
    // Parts found fully merged are asked again only once entries were added or removed.
    const version = `${p.firstId}:${p.inserted}:${p.live}`;
    if (merged.get(p.part) === version) continue;
    try {
      if (mergeOnce(c, p, pages)) return true;
      merged.set(p.part, version);
    } catch (err) {
      // Retention (maybe another process's) dropped the part meanwhile: on to the next one.
      if (!/no such table/.test((err as Error).message)) throw err;
    }
  }
  return false;
}

/**
 * Per connection: the parts mergeTextStep found with nothing to merge, with their entry counts
 * then, so an idle writer does not open a write transaction on every part after every write.
 */
const mergedParts = new WeakMap<SearchConnection, Map<number, string>>();

/** One 'merge' of `budget` pages on a part; true when it changed anything. */
function mergeOnce(c: SearchConnection, p: TextPart, budget: number): boolean {
  const changes = c.stmt('SELECT total_changes()').pluck();
  const merge = c.stmt(`INSERT INTO ${p.table} (${p.name}, rank) VALUES ('merge', ?)`);
  const before = changes.get() as number;
  c.db.transaction(() => merge.run(budget))();
  // A step that found nothing to merge changes nothing but the statement itself.
  return (changes.get() as number) - before > 1;
}

async function mergeSteps(
  c: SearchConnection,
  budget: number,
  pauseMs: number,
  maxSteps: number,
): Promise<number> {
  let longest = 0;
  let steps = 0;
  const parts = c.read((st) => st.parts);
  for (const p of parts) {
    while (steps++ < maxSteps) {
      const t0 = performance.now();
      let merged: boolean;
      try {
        merged = mergeOnce(c, p, budget);
      } catch {
        break; // dropped meanwhile (retention), or busy: the next run goes on
      }
      longest = Math.max(longest, performance.now() - t0);
      if (!merged) break;
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }
  return longest;
}
