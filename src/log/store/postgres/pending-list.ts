/**
 * Keeps the text index's GIN pending lists short, on a connection of its own, so that appends do
 * not do it inline.
 *
 * With `fastupdate` (PostgreSQL's default) a GIN insert only appends to the index's pending list;
 * the insert that takes the list past `gin_pending_list_limit` (4 MB) then merges the whole list
 * into the index itself, inside the append, and that append's entries wait for it: it was the
 * largest part of a logging process's longest waits with nothing else running (84-89 ms in
 * bench/log/pg-prune.ts's quiet windows; 247-543 ms at load, docs/logging.md). Here, once
 * CLEAN_EVERY_ROWS entries were appended, `gin_clean_pending_list` merges the lists of the week
 * partitions written to, in the background; an insert that reaches the limit meanwhile skips
 * its own merge while ours holds the list (PostgreSQL takes that lock conditionally for inserts),
 * so appends go on. Best effort: when it fails (e.g. the database user does not own the index,
 * which the function requires) appends merge inline as before.
 *
 * Measured with pg-prune.ts on a quiet 2-core machine: a logging process's longest wait in a 47 s
 * window without retention fell from 84-89 ms to 26-31 ms (3 runs each). It costs a burst some
 * throughput, as the merges then run beside the inline ones: 1M entries from 4 processes took
 * 19.2 s against 16.9-18.2 s (one run against three).
 */
import type pg from 'pg';
import { PG_SCHEMA, partitionName } from './schema.js';

/** Entries appended between two background merges (about a quarter of a 4 MB list). */
export const CLEAN_EVERY_ROWS = 5000;
/** A merge that takes longer than this is cancelled (the next insert past the limit does it). */
const CLEAN_TIMEOUT_MS = 10_000;

/** The GIN indexes of the partitions named in $1 (missing ones skipped), each merged. */
const CLEAN_SQL = `SELECT count(gin_clean_pending_list(i.indexrelid)) AS n
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE a.amname = 'gin' AND i.indrelid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t)`;

/** SQLSTATE insufficient_privilege: gin_clean_pending_list wants the index's owner. */
const NOT_OWNER = '42501';

/** The SQLSTATE of a server error, or of the one a StorageError wraps. */
function sqlState(err: unknown): unknown {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return e.cause?.code ?? e.code;
}

/** Runs `work` in a transaction on a pooled connection (the store's `tx`). */
export type InTransaction = (work: (c: pg.ClientBase) => Promise<unknown>) => Promise<unknown>;

export class PendingListCleaner {
  private rows = 0;
  private readonly weeks = new Set<number>();
  private running: Promise<void> | undefined;
  /** Set when the server refused because the user does not own the indexes. */
  private disabled = false;

  /** `everyRows`: entries between merges (Infinity: never, appends merge inline). */
  constructor(
    private readonly inTransaction: InTransaction,
    private readonly everyRows = CLEAN_EVERY_ROWS,
  ) {}

  /** After a commit of `count` entries in the week partitions `weeks`: starts a merge when enough were appended. */
  appended(weeks: Iterable<number>, count: number): void {
    if (!Number.isFinite(this.everyRows)) return;
    for (const w of weeks) this.weeks.add(w);
    this.rows += count;
    if (this.rows >= this.everyRows) this.start();
  }

  /**
   * When the writer is idle (after a burst): merges what was appended since the last merge, once
   * that is a tenth of CLEAN_EVERY_ROWS (a shop logging an entry now and then should not pay a
   * merge per entry).
   */
  idle(): void {
    if (this.rows >= this.everyRows / 10) this.start();
  }

  /** Resolves once no merge runs (before the pool closes). */
  async settled(): Promise<void> {
    await this.running;
  }

  private start(): void {
    if (this.running || this.disabled) return;
    const tables = [...this.weeks].map((w) => `${PG_SCHEMA}.${partitionName(w)}`);
    this.rows = 0;
    this.weeks.clear();
    this.running = this.inTransaction(async (c) => {
      await c.query(`SET LOCAL statement_timeout = ${CLEAN_TIMEOUT_MS}`);
      await c.query(CLEAN_SQL, [tables]);
    })
      .then(() => {})
      .catch((err: unknown) => {
        // Best effort: the inserts merge inline as they would without this. A user that does
        // not own the indexes never will: stop asking (each refusal is an ERROR in the server log).
        if (sqlState(err) === NOT_OWNER) this.disabled = true;
      })
      .finally(() => {
        this.running = undefined;
      });
  }
}
