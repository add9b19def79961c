/**
 * The SQLite store's search file: derived data kept beside the store, in `<store>.search`:
 *
 * - the full-text index, one contentless FTS5 table per **part** (`fts_<n>`): consecutive entries
 *   (in id order) of one calendar month (UTC), at most PART_MAX_ROWS of them. Inserting costs the
 *   same however large the store grows (an index's merges stay the size of a part), a search with a
 *   time range reads only the parts whose entries fall in it, and a part whose entries retention
 *   removed is dropped whole;
 * - `counts_hour` / `counts_day`: entries per hour / day, category and level, so per-level counts
 *   for filters without text are sums instead of scans;
 * - `parts` (id range, time range, live entries of each part) and `meta` (how far it is filled:
 *   `upto`, the chain hash of that entry `upto_hash`, the last retention batch applied `applied`,
 *   and the `store_uid` of the store it belongs to).
 *
 * Why a file of its own: the writer thread commits entries to the store while another thread (see
 * sqlite/indexer.ts) fills the index; in one file they would take turns on SQLite's single write
 * lock, in two they run on both cores at once. The file is derived data: it is not backed up,
 * and when it is missing, damaged, of another format, or does not match the store (a restored or
 * replaced store: another `store_uid`, an `upto` past the store's last entry, or another hash
 * there) the indexer starts it afresh and searches meanwhile match the unindexed entries by
 * substring.
 *
 * A SearchConnection opens the store file as `main` (only ever read through it) with the search
 * file attached as `idx`. It never starts an IMMEDIATE transaction (that would take the store's
 * write lock too): writes begin with a write to `idx`, which takes only the search file's lock.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { fileIdentity, type FileIdentity } from './file-watch.js';

/** Bumped when the search file's layout changes: a file of another format is rebuilt. */
export const SEARCH_FORMAT = 1;

/** Where the search file of `storeFile` lives. */
export function searchFilePath(storeFile: string): string {
  return `${storeFile}.search`;
}

const DDL = `
CREATE TABLE IF NOT EXISTS idx.meta (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx.parts (
  part     INTEGER PRIMARY KEY,
  first_id INTEGER NOT NULL,
  last_id  INTEGER NOT NULL,
  min_ts   INTEGER,
  max_ts   INTEGER,
  month    INTEGER NOT NULL,
  inserted INTEGER NOT NULL,
  live     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idx.counts_hour (
  hour INTEGER NOT NULL, category TEXT NOT NULL, level INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (hour, category, level)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx.counts_day (
  day INTEGER NOT NULL, category TEXT NOT NULL, level INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (day, category, level)
) WITHOUT ROWID;
`;

/** One part of the full-text index. */
export interface TextPart {
  part: number;
  /** Its FTS5 table, qualified (`idx.fts_3`), and the bare name FTS5's MATCH wants on the left. */
  table: string;
  name: string;
  firstId: number;
  lastId: number;
  minTs: number | null;
  maxTs: number | null;
  /** UTC month of its first entry, as year * 12 + month. */
  month: number;
  inserted: number;
  live: number;
}

/** Where the full-text index stands, read inside a transaction (see SearchConnection.state). */
export interface TextState {
  /** The search file belongs to this store and can be used (false: treat it as empty). */
  usable: boolean;
  /** Entries up to this id are in the search file (0: none). */
  upto: number;
  /** The last retention batch (text_pending) the search file has applied. */
  applied: number;
  parts: TextPart[];
  /** A schema-1 store's own full-text table still covers ids up to this (0: none). */
  legacyUpto: number;
  /** The store's next id (entries so far + 1). */
  nextId: number;
}

export interface SearchConnectionOptions {
  readonly?: boolean;
  busyTimeoutMs?: number;
  /**
   * Page cache of the store, KiB (default 32 MB: searches read its indexes at random). The indexer
   * only reads new entries in order and takes 4 MB.
   */
  storeCacheKiB?: number;
}

/** A connection to the store (read) with its search file attached as `idx` (see above). */
export class SearchConnection {
  private readonly stmts = new Map<string, Database.Statement>();
  private closed = false;

  private constructor(
    readonly db: Database.Database,
    readonly storeFile: string,
    /** The search file is attached (false: a read-only store without one: nothing indexed). */
    readonly attached: boolean,
    readonly writable: boolean,
    private readonly identity: { store: FileIdentity | undefined; search: FileIdentity | undefined },
  ) {}

  /**
   * Opens `storeFile` and attaches its search file, creating it (mode 0600: the index holds the
   * words of the entries) unless `readonly`. A read-only connection to a store without a usable
   * search file works without it.
   */
  static open(storeFile: string, options: SearchConnectionOptions = {}): SearchConnection {
    const readonly = options.readonly ?? false;
    const searchFile = searchFilePath(storeFile);
    const db = new Database(storeFile, {
      readonly,
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
    try {
      db.pragma(`cache_size = -${Math.floor(options.storeCacheKiB ?? 32_000)}`);
      db.pragma('temp_store = MEMORY');
      let attached = false;
      if (!readonly) {
        createPrivate(searchFile);
        db.prepare('ATTACH ? AS idx').run(searchFile);
        attached = true;
        db.pragma('idx.journal_mode = WAL');
        db.pragma('idx.synchronous = NORMAL');
        prepareSchema(db);
      } else if (existsSync(searchFile)) {
        try {
          db.prepare('ATTACH ? AS idx').run(searchFile);
          attached = (db.pragma('idx.user_version', { simple: true }) as number) === SEARCH_FORMAT;
          if (!attached) db.exec('DETACH idx');
        } catch {
          attached = false; // unreadable: searched without it
        }
      }
      if (attached) db.pragma('idx.cache_size = -16000');
      return new SearchConnection(db, storeFile, attached, !readonly, {
        store: fileIdentity(storeFile),
        search: fileIdentity(searchFile),
      });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** A prepared statement, cached. */
  stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      if (this.stmts.size > 200) this.stmts.clear();
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  /** True when the store or the search file at their paths are no longer the files opened. */
  moved(): boolean {
    const same = (a: FileIdentity | undefined, b: FileIdentity | undefined) =>
      a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
    if (!same(this.identity.store, fileIdentity(this.storeFile))) return true;
    return this.attached && !same(this.identity.search, fileIdentity(searchFilePath(this.storeFile)));
  }

  /**
   * Where the index stands. Call inside a transaction that has read the store first (so the
   * search file is read at least as recently as the store: see sqlite/search.ts).
   */
  state(): TextState {
    const meta = (key: string) => this.stmt('SELECT value FROM main.meta WHERE key = ?').pluck().get(key);
    const nextId = Number(meta('next_id') ?? 1);
    const legacy = this.stmt("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'logs_fts'");
    const legacyUpto = legacy.get() !== undefined ? Number(meta('fts_upto') ?? 0) : 0;
    const empty: TextState = { usable: false, upto: 0, applied: 0, parts: [], legacyUpto, nextId };
    if (!this.attached) return empty;
    const idxMeta = (key: string) => this.stmt('SELECT value FROM idx.meta WHERE key = ?').pluck().get(key);
    const uid = meta('store_uid');
    const upto = Number(idxMeta('upto') ?? 0);
    let usable = uid !== undefined && uid === idxMeta('store_uid') && upto < nextId;
    if (usable && upto > 0) {
      // The entry the index reached must still be the one indexed (retention may have removed it).
      const hash = this.stmt('SELECT hash FROM main.logs WHERE id = ?').pluck().get(upto) as
        Buffer | undefined;
      const want = idxMeta('upto_hash') as Buffer | null | undefined;
      if (hash !== undefined && (!want || !Buffer.from(hash).equals(Buffer.from(want)))) usable = false;
    }
    if (!usable) return empty;
    const parts = (
      this.stmt(
        'SELECT part, first_id, last_id, min_ts, max_ts, month, inserted, live FROM idx.parts ORDER BY part',
      ).all() as {
        part: number;
        first_id: number;
        last_id: number;
        min_ts: number | null;
        max_ts: number | null;
        month: number;
        inserted: number;
        live: number;
      }[]
    ).map((p) => ({
      part: p.part,
      table: `idx.fts_${p.part}`,
      name: `fts_${p.part}`,
      firstId: p.first_id,
      lastId: p.last_id,
      minTs: p.min_ts,
      maxTs: p.max_ts,
      month: p.month,
      inserted: p.inserted,
      live: p.live,
    }));
    return { usable, upto, applied: Number(idxMeta('applied') ?? 0), parts, legacyUpto, nextId };
  }

  /** Runs `fn` in a read transaction that reads the store before the search file (see state()). */
  read<T>(fn: (state: TextState) => T): T {
    return this.db.transaction(() => {
      this.stmt('SELECT 1 FROM main.meta LIMIT 1').get();
      return fn(this.state());
    })();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** Creates the search file's tables, or starts the file afresh when it has another format. */
function prepareSchema(db: Database.Database): void {
  const version = db.pragma('idx.user_version', { simple: true }) as number;
  if (version === SEARCH_FORMAT) return;
  db.transaction(() => {
    if ((db.pragma('idx.user_version', { simple: true }) as number) === SEARCH_FORMAT) return;
    // Another format (or a new file): derived data, so start over.
    for (const { name } of db
      .prepare("SELECT name FROM idx.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[]) {
      if (!/_(data|idx|config|docsize|content)$/.test(name)) db.exec(`DROP TABLE IF EXISTS idx."${name}"`);
    }
    db.exec(DDL);
    db.prepare(
      "INSERT OR REPLACE INTO idx.meta (key, value) VALUES ('upto', 0), ('applied', 0), ('upto_hash', NULL), ('store_uid', NULL)",
    ).run();
    db.pragma(`idx.user_version = ${SEARCH_FORMAT}`);
  })();
}

/** Creates `file` with mode 0600 when missing; narrows an existing one readable by others. */
function createPrivate(file: string): void {
  try {
    closeSync(openSync(file, 'ax', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      const st = statSync(file);
      if (st.isFile() && (st.mode & 0o077) !== 0) chmodSync(file, st.mode & 0o700);
    } catch {
      // not ours to change: it still opens
    }
  }
}

/** Deletes a damaged search file (derived data) so the next connection starts it afresh. */
export function removeSearchFile(storeFile: string): void {
  const file = searchFilePath(storeFile);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
}
