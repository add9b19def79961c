/**
 * The heartbeat row: the drill measures RPO as the live server's newest heartbeat minus the
 * recovered server's, so a heartbeat must follow every write to the shop within one interval.
 * It need not follow silence: writing it every interval on an idle server cost ~900 storage
 * requests an hour (its own WAL, plus the bgwriter's snapshot record and a checkpoint it causes,
 * each one more piece of the open segment). So every `heartbeatSeconds` the loop asks the server
 * whether any transaction took a transaction id since the last heartbeat's own — `xmax` of a
 * snapshot is the next id to be handed out, and only writing transactions take one — and beats
 * only then. An idle shop then writes no WAL and costs no requests; a shop that wrote gets its
 * heartbeat within one interval, as before, so the drill's RPO keeps its precision. When the
 * shop has been idle, the newest heartbeat is the one after its last write, in the live server
 * and in the repository alike: the drill then reports 0, which is what would be lost.
 */
import type { BackupDeps } from '../../context.js';
import { connect, quoteTable } from './conn.js';
import { pgConfig } from './walstream.js';

export interface HeartbeatOptions {
  signal?: AbortSignal;
  /** True once the stream stops. */
  stopping: () => boolean;
  /** Waits `ms` (returns early when stopping). */
  sleep: (ms: number) => Promise<void>;
  /** Called after each decision (tests count beats). */
  onBeat?: (wrote: boolean) => void;
}

/** Writes the heartbeat row whenever the shop wrote since the last one, until stopped. */
export async function heartbeatLoop(deps: BackupDeps, opts: HeartbeatOptions): Promise<void> {
  const pgc = pgConfig(deps);
  const table = quoteTable(pgc.heartbeatTable);
  const upsert = `INSERT INTO ${table} (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = now()
                  RETURNING pg_current_xact_id()::text AS x`;
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  let failing = false;
  /**
   * The transaction id of our last heartbeat, kept while the server was quiet right after it (no
   * other transaction holding an id): as long as the next id to hand out is still one above it and
   * nothing holds an id, nobody has written since.
   */
  let quietAfter: bigint | undefined;
  while (!opts.stopping() && !opts.signal?.aborted) {
    try {
      client ??= await connect(pgc);
      let wrote = false;
      if (quietAfter === undefined || !isQuiet(await snapshot(client), quietAfter)) {
        let r;
        try {
          r = await client.query<{ x: string }>(upsert);
        } catch (err) {
          // Only a missing table is made here (a role without CREATE on the schema can still beat).
          if ((err as { code?: string }).code !== '42P01') throw err;
          await client.query(
            `CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY, at timestamptz NOT NULL)`,
          );
          r = await client.query<{ x: string }>(upsert);
        }
        const xid = BigInt(r.rows[0]!.x);
        // A transaction that took its id before ours and commits later would not move the next id:
        // skip only from a heartbeat after which nothing else held an id.
        quietAfter = isQuiet(await snapshot(client), xid) ? xid : undefined;
        wrote = true;
      }
      failing = false;
      opts.onBeat?.(wrote);
    } catch (err) {
      await client?.end().catch(() => {});
      client = undefined;
      quietAfter = undefined;
      // Once per failure streak, not every few seconds.
      if (!failing)
        await deps.log.warn(
          `heartbeat row could not be written: ${(err as Error).message} (create ${pgc.heartbeatTable} (id int primary key, at timestamptz not null) and grant the role INSERT, UPDATE on it, or set database.heartbeatSeconds to 0)`,
          { details: { table: pgc.heartbeatTable } },
        );
      failing = true;
    }
    await opts.sleep(pgc.heartbeatSeconds * 1000);
  }
  await client?.end().catch(() => {});
}

/** The next transaction id to hand out (xmax) and the oldest one still running (xmin, = xmax when none). */
async function snapshot(c: Awaited<ReturnType<typeof connect>>): Promise<{ xmin: bigint; xmax: bigint }> {
  const r = await c.query<{ xmin: string; xmax: string }>(
    'SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax FROM pg_current_snapshot() s',
  );
  return { xmin: BigInt(r.rows[0]!.xmin), xmax: BigInt(r.rows[0]!.xmax) };
}

/** Nothing took a transaction id after `xid`, and nothing holds one now. */
function isQuiet(s: { xmin: bigint; xmax: bigint }, xid: bigint): boolean {
  return s.xmax === xid + 1n && s.xmin === s.xmax;
}
