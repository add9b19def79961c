/**
 * Continuous WAL: a supervised `pg_receivewal --synchronous` on the replication slot writes into
 * a local spool folder (backup.stateDir/pg-wal/<slot>); every `walUploadSeconds` the uploader
 * seals and stores closed segments (then forgets their pieces and the local file) and the new
 * bytes of the open `.partial` segment as a piece, so the data-loss window is a few seconds. An
 * idle server produces no new bytes and so no requests, except the heartbeat row that keeps the
 * stream (and the drill's RPO) honest. The child is restarted with backoff; it dies with us.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupDeps } from '../../context.js';
import type { PostgresSourceConfig } from '../../../config/types.js';
import { SafetynetError } from '../../../errors.js';
import { replicationArgs, withClient } from './conn.js';
import { heartbeatLoop } from './heartbeat.js';
import {
  flushRequestPath,
  flushRequested,
  pendingFlush,
  requestFlush,
  streamStoredThrough,
  FLUSH_POLL_MS,
} from './flush-request.js';
import { pgTool, spawnSupervised, type Supervised } from './tools.js';
import { checkClusterIdentity } from './cluster-identity.js';
import {
  WAL_PREFIX,
  formatLsn,
  historyKey,
  parseLsn,
  parseSegmentName,
  parseWalListing,
  pieceKey,
  segmentKey,
  segmentName,
  segmentOf,
  type WalListing,
} from './wal.js';

/** WAL page size: pages start with a header whose first two bytes (xlp_magic) are never zero. */
const WAL_PAGE = 8192;

export function pgConfig(deps: BackupDeps): PostgresSourceConfig {
  const pgc = deps.config.database.postgres;
  if (!pgc) throw new SafetynetError('E_DB_TYPE', 'database.type is not "postgres"', { exitCode: 2 });
  return pgc;
}

export function spoolDir(deps: BackupDeps): string {
  return path.join(deps.config.backup.stateDir, 'pg-wal', pgConfig(deps).slot);
}

/** What the stream last did, kept in a small file so `status` (another process) can read it. */
export interface StreamState {
  pid: number;
  running: boolean;
  updatedAt: string;
  lastUpload: { key: string; at: string; lsn: string } | null;
  restarts: number;
  lastError: string | null;
}

export function streamStatePath(deps: BackupDeps): string {
  return path.join(deps.config.backup.stateDir, 'pg-wal', `${pgConfig(deps).slot}.state.json`);
}

/** Creates the physical slot (reserving WAL now) when it is missing; returns its row. */
export async function ensureSlot(
  deps: BackupDeps,
): Promise<{ created: boolean; active: boolean; walStatus: string | null }> {
  const pgc = pgConfig(deps);
  return withClient(pgc, async (c) => {
    const r = await c.query<{ active: boolean; wal_status: string | null }>(
      'SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = $1',
      [pgc.slot],
    );
    if (r.rows[0]) return { created: false, active: r.rows[0].active, walStatus: r.rows[0].wal_status };
    await c.query('SELECT pg_create_physical_replication_slot($1, true)', [pgc.slot]);
    await deps.log.info(`created replication slot ${pgc.slot} (it keeps WAL until safetynet has stored it)`, {
      details: { slot: pgc.slot },
    });
    return { created: true, active: false, walStatus: 'reserved' };
  });
}

/** Lists what the repository holds under wal/. */
export async function listWal(deps: BackupDeps): Promise<WalListing> {
  const objects = [];
  for await (const o of deps.repo.storage.list(WAL_PREFIX)) objects.push(o);
  return parseWalListing(objects);
}

/** True when the repository holds WAL through `lsn` on `timeline`. */
export function coversLsn(listing: WalListing, timeline: number, lsn: bigint, segSize: number): boolean {
  const seg = segmentOf(lsn, segSize);
  // An LSN on a segment boundary is the end of the previous segment: that one must be complete.
  if (
    lsn % BigInt(segSize) === 0n &&
    seg > 0n &&
    listing.segments.has(segmentName(timeline, seg - 1n, segSize))
  )
    return true;
  const name = segmentName(timeline, seg, segSize);
  if (listing.segments.has(name)) return true;
  const offset = Number(lsn - seg * BigInt(segSize));
  return (listing.pieces.get(name) ?? []).some((p) => p.end > offset);
}

/** True when every segment from `from` through `to` is stored (the last one may be open). */
export function coversRange(
  listing: WalListing,
  timeline: number,
  from: bigint,
  to: bigint,
  segSize: number,
): boolean {
  const last = to % BigInt(segSize) === 0n ? segmentOf(to, segSize) - 1n : segmentOf(to, segSize);
  for (let seg = segmentOf(from, segSize); seg < last; seg++) {
    if (!listing.segments.has(segmentName(timeline, seg, segSize))) return false;
  }
  return coversLsn(listing, timeline, to, segSize);
}

/**
 * A slot made just before a base backup reserves WAL from the last checkpoint; if that was long
 * ago, the backup's own checkpoint may invalidate it (max_slot_wal_keep_size). After the backup,
 * such a slot is made again — it then reserves from the backup's checkpoint — so the WAL the
 * backup needs is kept. A slot a running stream uses has moved past the backup's start because
 * the stream already holds that WAL: the caller's check that the repository holds it decides.
 */
export async function secureSlotFor(deps: BackupDeps, startLsn: string): Promise<void> {
  const pgc = pgConfig(deps);
  await withClient(pgc, async (c) => {
    const row = async () =>
      (
        await c.query<{ restart_lsn: string | null; wal_status: string | null; active: boolean }>(
          'SELECT restart_lsn::text, wal_status, active FROM pg_replication_slots WHERE slot_name = $1',
          [pgc.slot],
        )
      ).rows[0];
    let r = await row();
    const ok = (x: typeof r) =>
      x && x.wal_status !== 'lost' && x.restart_lsn !== null && parseLsn(x.restart_lsn) <= parseLsn(startLsn);
    if (ok(r)) return;
    if (r?.active && r.wal_status !== 'lost') return;
    if (r && !r.active) {
      await c.query('SELECT pg_drop_replication_slot($1)', [pgc.slot]);
      await deps.log.warn(`replication slot ${pgc.slot} had lost WAL (${r.wal_status}); made it again`, {
        details: { slot: pgc.slot, restartLsn: r.restart_lsn },
      });
    }
    if (!r || !r.active) await c.query('SELECT pg_create_physical_replication_slot($1, true)', [pgc.slot]);
    r = await row();
    if (!ok(r)) {
      throw new SafetynetError(
        'E_WAL_SLOT',
        `replication slot ${pgc.slot} does not keep WAL from ${startLsn} (restart_lsn ${r?.restart_lsn ?? 'none'}, wal_status ${r?.wal_status ?? 'none'}), so the base backup cannot be made consistent`,
        {
          hint: 'raise max_slot_wal_keep_size (see `safetynet doctor`) and run the backup again',
        },
      );
    }
  });
}

export interface StreamOptions {
  /** Stop once WAL through this LSN is stored (a one-shot catch-up). */
  endpos?: string;
  signal?: AbortSignal;
  /** Write heartbeat rows (continuous mode). */
  heartbeat?: boolean;
  /** Called after each heartbeat decision: true when a row was written (tests). */
  onHeartbeat?: (wrote: boolean) => void;
}

/** Streams WAL into the repository until `signal` aborts (or `endpos` is stored). */
export class WalStreamer {
  private readonly deps: BackupDeps;
  private readonly opts: StreamOptions;
  private child: Supervised | undefined;
  /** Bytes already stored per open segment. */
  private readonly uploadedEnd = new Map<string, number>();
  private readonly state: StreamState = {
    pid: process.pid,
    running: false,
    updatedAt: new Date().toISOString(),
    lastUpload: null,
    restarts: 0,
    lastError: null,
  };
  private segSize = 16 * 1024 * 1024;
  private stopping = false;
  /** End of the newest WAL this stream stored. */
  private storedThrough = 0n;
  /** The upload pass running now: passes never overlap (the loop, a reset, the last pass). */
  private uploading: Promise<void> = Promise.resolve();

  constructor(deps: BackupDeps, opts: StreamOptions = {}) {
    this.deps = deps;
    this.opts = opts;
  }

  /** Runs until stopped: supervises pg_receivewal, uploads, writes heartbeats. */
  async run(): Promise<void> {
    const { deps } = this;
    const pgc = pgConfig(deps);
    deps.repo.recipients();
    await deps.repo.prepareForWrite();
    await deps.repo.ensureInitialized();
    const dir = spoolDir(deps);
    await fsp.mkdir(dir, { recursive: true });
    const server = await withClient(pgc, async (c) => {
      const r = await c.query<{ s: string; sys: string }>(
        `SELECT setting AS s, (SELECT system_identifier::text FROM pg_control_system()) AS sys
           FROM pg_settings WHERE name = 'wal_segment_size'`,
      );
      return r.rows[0]!;
    });
    this.segSize = Number(server.s);
    await checkClusterIdentity(deps, server.sys, dir);
    await ensureSlot(deps);
    await this.loadUploadedPieces();
    const uploader = this.uploadLoop();
    const heartbeat =
      this.opts.heartbeat && pgc.heartbeatSeconds > 0
        ? heartbeatLoop(deps, {
            ...(this.opts.signal ? { signal: this.opts.signal } : {}),
            stopping: () => this.stopped(),
            sleep: (ms) => sleep(ms, this.opts.signal, () => this.stopping),
            ...(this.opts.onHeartbeat ? { onBeat: this.opts.onHeartbeat } : {}),
          })
        : Promise.resolve();
    let backoff = 1000;
    try {
      while (!this.stopped()) {
        const started = Date.now();
        const { code, signal } = await this.runChild();
        if (this.stopped()) break;
        if (this.opts.endpos && code === 0) break;
        const out = this.child?.stderr().trim() ?? '';
        this.state.lastError = `pg_receivewal ${signal ? `stopped by ${signal}` : `exited with code ${code}`}: ${out.split('\n').slice(-3).join(' ')}`;
        this.state.restarts++;
        await deps.log.error(
          `WAL stream stopped: ${this.state.lastError}; restarting in ${backoff / 1000} s`,
          {
            details: { command: this.child?.command, code, signal, output: out.slice(-2000) },
          },
        );
        if (this.opts.endpos) throw new SafetynetError('E_PG_COMMAND', this.state.lastError);
        if (/already been removed|invalidated|does not exist/.test(out)) await this.resetSpool(out);
        await this.writeState();
        await sleep(backoff, this.opts.signal);
        backoff = Date.now() - started > 60_000 ? 1000 : Math.min(backoff * 2, 60_000);
      }
    } finally {
      this.stopping = true;
      await this.child?.stop();
      await uploader;
      await heartbeat;
      await this.uploadOnce(); // what arrived last is stored before we return
      this.state.running = false;
      await this.writeState();
    }
  }

  private stopped(): boolean {
    return this.stopping || Boolean(this.opts.signal?.aborted);
  }

  /**
   * The server no longer has the WAL our spool continues from (the slot was lost and made again):
   * store what the spool holds, then empty it so pg_receivewal starts at the slot's position. The
   * gap this leaves is what verify and status report; the next base backup starts a new chain.
   */
  private async resetSpool(why: string): Promise<void> {
    await this.uploadOnce().catch(() => {});
    const dir = spoolDir(this.deps);
    for (const n of await fsp.readdir(dir).catch(() => [] as string[]))
      await fsp.rm(path.join(dir, n), { force: true });
    this.uploadedEnd.clear();
    await ensureSlot(this.deps).catch(() => {});
    await this.deps.log.warn(
      `WAL stream restarts from the slot's position: ${why.split('\n').slice(-1)[0]}`,
      {
        details: { slot: pgConfig(this.deps).slot },
      },
    );
  }

  private async runChild(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const pgc = pgConfig(this.deps);
    const args = [
      '-D',
      spoolDir(this.deps),
      '--slot',
      pgc.slot,
      '--synchronous',
      '--no-loop',
      ...replicationArgs(pgc),
    ];
    // pg_receivewal stops only once it has received WAL *past* --endpos; when the server then
    // writes nothing (an idle shop), it would wait for the next record (the bgwriter's, up to
    // 15 s, or minutes). One byte earlier makes it stop as soon as it holds WAL through endpos.
    if (this.opts.endpos) args.push('--endpos', formatLsn(parseLsn(this.opts.endpos) - 1n));
    this.child = spawnSupervised(pgTool(pgc, 'pg_receivewal'), args, {
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      onStderr: (line) => void this.deps.log.warn(`pg_receivewal: ${line}`, { details: { slot: pgc.slot } }),
    });
    this.state.running = true;
    await this.writeState();
    const r = await this.child.exited;
    this.state.running = false;
    return r;
  }

  private async uploadLoop(): Promise<void> {
    const interval = pgConfig(this.deps).walUploadSeconds * 1000;
    let asked: bigint | undefined;
    while (!this.stopped()) {
      // A base backup's flush request (flush-request.ts) wakes the loop early; while one is not
      // met yet (pg_receivewal is still receiving that WAL), look again soon.
      const wait =
        asked !== undefined ? FLUSH_POLL_MS : this.opts.endpos ? Math.min(interval, 1000) : interval;
      await sleep(wait, this.opts.signal, () => this.stopping || flushRequested(this.deps), FLUSH_POLL_MS);
      if (this.stopped()) break;
      try {
        await this.uploadOnce();
        asked = await pendingFlush(this.deps, this.storedThrough);
      } catch (err) {
        asked = undefined;
        this.state.lastError = `upload failed: ${(err as Error).message}`;
        await this.deps.logger.error(err, {
          category: 'backup',
          message: `WAL upload failed: ${(err as Error).message}`,
        });
      }
    }
  }

  /** Learns which pieces of open segments are already stored (after a restart). */
  private async loadUploadedPieces(): Promise<void> {
    const listing = await listWal(this.deps);
    for (const [name, pieces] of listing.pieces) {
      const end = pieces[pieces.length - 1]!.end;
      this.uploadedEnd.set(name, end);
    }
    for (const name of listing.segments.keys()) this.uploadedEnd.set(name, this.segSize);
    for (const [name, end] of this.uploadedEnd) {
      const seg = parseSegmentName(name, this.segSize);
      const lsn = seg ? seg.segNo * BigInt(this.segSize) + BigInt(end) : 0n;
      if (lsn > this.storedThrough) this.storedThrough = lsn;
    }
  }

  /** One pass over the spool folder: closed segments, the open segment's new bytes, history files. */
  uploadOnce(): Promise<void> {
    const pass = this.uploading.catch(() => {}).then(() => this.uploadPass());
    this.uploading = pass;
    return pass;
  }

  private async uploadPass(): Promise<void> {
    const dir = spoolDir(this.deps);
    const names = (await fsp.readdir(dir).catch(() => [] as string[])).sort();
    for (const n of names) {
      const file = path.join(dir, n);
      if (/^[0-9A-F]{24}$/.test(n)) {
        const data = await fsp.readFile(file);
        await this.store(segmentKey(n), data, n, data.length);
        await this.forgetPieces(n);
        this.uploadedEnd.set(n, data.length);
        await fsp.rm(file, { force: true });
      } else if (/^[0-9A-F]{24}\.partial$/.test(n)) {
        await this.uploadPartial(n.slice(0, 24), file);
      } else if (/^[0-9A-F]{8}\.history$/.test(n)) {
        const tli = parseInt(n.slice(0, 8), 16);
        if (!this.uploadedEnd.has(n)) {
          await this.store(historyKey(tli), await fsp.readFile(file), null, 0);
          this.uploadedEnd.set(n, 1);
        }
      }
    }
  }

  private async uploadPartial(name: string, file: string): Promise<void> {
    const done = this.uploadedEnd.get(name) ?? 0;
    const from = Math.floor(done / WAL_PAGE) * WAL_PAGE;
    const fh = await fsp.open(file, 'r');
    let buf: Buffer;
    try {
      const size = (await fh.stat()).size;
      if (size <= from) return;
      buf = Buffer.allocUnsafe(size - from);
      const { bytesRead } = await fh.read(buf, 0, buf.length, from);
      buf = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
    const written = writtenLength(buf);
    const end = from + written;
    if (end <= done) return;
    await this.store(pieceKey(name, from, end), buf.subarray(0, written), name, end);
    this.uploadedEnd.set(name, end);
  }

  private async store(key: string, plain: Buffer, segment: string | null, endOffset: number): Promise<void> {
    const { sealed } = await this.deps.repo.sealPool().seal(Buffer.from(plain), { transfer: true });
    await this.deps.repo.storage.put(key, sealed, { size: sealed.length });
    if (segment) {
      const seg = parseSegmentName(segment, this.segSize)!;
      const lsn = seg.segNo * BigInt(this.segSize) + BigInt(endOffset);
      if (lsn > this.storedThrough) this.storedThrough = lsn;
      this.state.lastUpload = {
        key,
        at: new Date(this.deps.clock.now()).toISOString(),
        lsn: formatLsn(lsn),
      };
      await this.writeState();
    }
  }

  private async forgetPieces(name: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.deps.repo.storage.list(`${WAL_PREFIX}${name}.partial/`)) keys.push(o.key);
    for (const k of keys) await this.deps.repo.storage.delete(k);
  }

  private async writeState(): Promise<void> {
    this.state.updatedAt = new Date(this.deps.clock.now()).toISOString();
    const file = streamStatePath(this.deps);
    const tmp = `${file}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(this.state, null, 2)).catch(() => {});
    await fsp.rename(tmp, file).catch(() => {});
  }
}

/** Bytes of a WAL buffer (starting on a page boundary) that were written: up to the first unwritten page, trailing zeros dropped. */
export function writtenLength(buf: Buffer): number {
  let end = 0;
  for (let off = 0; off < buf.length; off += WAL_PAGE) {
    if (buf[off] === 0 && buf[off + 1] === 0) break;
    end = Math.min(off + WAL_PAGE, buf.length);
  }
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}

/**
 * Makes sure the repository holds WAL through `lsn` and at least a byte of the record after it
 * (recovery to an LSN target reads that record; `coversLsn` asks for it): when another process
 * streams on the slot, asks it to store that now and waits (bounded); otherwise runs a one-shot
 * pg_receivewal through `endpos`, which the caller sets past a record it made after `lsn`.
 */
export async function ensureWalThrough(
  deps: BackupDeps,
  timeline: number,
  fromLsn: string,
  lsn: string,
  segSize: number,
  signal?: AbortSignal,
  endpos?: string,
): Promise<'streamed' | 'caught-up'> {
  const pgc = pgConfig(deps);
  const target = parseLsn(lsn);
  const from = parseLsn(fromLsn);
  await secureSlotFor(deps, fromLsn);
  const slot = await ensureSlot(deps);
  if (slot.active) {
    // Ask the stream to store it now; watch its (local) state file, confirm with one listing.
    await requestFlush(deps, target + 1n);
    try {
      const deadline = Date.now() + (pgc.walUploadSeconds * 3 + 60) * 1000;
      let listAt = Date.now();
      while (Date.now() < deadline) {
        const stored = await streamStoredThrough(streamStatePath(deps));
        if ((stored !== undefined && stored > target) || Date.now() >= listAt) {
          if (coversRange(await listWal(deps), timeline, from, target, segSize)) return 'streamed';
          listAt = Date.now() + 2000;
        }
        await sleep(FLUSH_POLL_MS, signal);
      }
    } finally {
      await fsp.rm(flushRequestPath(deps), { force: true });
    }
    throw new SafetynetError(
      'E_WAL_NOT_STORED',
      `the WAL stream on slot ${pgc.slot} did not store WAL through ${lsn} in time, so the base backup cannot be made consistent`,
      { hint: 'check the backup log for WAL stream errors (`safetynet status`), then run the backup again' },
    );
  }
  const through = endpos && parseLsn(endpos) > target ? endpos : formatLsn(target + 1n);
  await new WalStreamer(deps, { endpos: through, ...(signal ? { signal } : {}) }).run();
  if (!coversRange(await listWal(deps), timeline, from, target, segSize)) {
    throw new SafetynetError(
      'E_WAL_NOT_STORED',
      `pg_receivewal ended before WAL ${fromLsn}..${lsn} was stored`,
      {
        hint: 'see the backup log for pg_receivewal output',
      },
    );
  }
  return 'caught-up';
}

function sleep(ms: number, signal?: AbortSignal, until?: () => boolean, pollMs = 100): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    let poll: NodeJS.Timeout | undefined;
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      if (poll) clearInterval(poll);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
    if (until) poll = setInterval(() => until() && done(), pollMs);
  });
}
