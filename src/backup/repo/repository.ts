/**
 * The repository: a Storage plus the format rules of docs/FORMAT.md — sealing, write order,
 * catalog, manifests, locks and history. Sources (SQLite, files) produce bytes; this class decides
 * where they go and makes a point visible only once everything it needs is stored.
 */
import { hostname } from 'node:os';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { SafetynetError, StorageError } from '../../errors.js';
import type { Clock } from '../../clock.js';
import type { Storage } from '../storage/types.js';
import {
  SealPool,
  SlotPool,
  loadIdentities,
  openBuffer,
  parseRecipients,
  sealBuffer,
  type Identity,
  type Recipient,
} from '../crypto/index.js';
import {
  CATALOG_PREFIX,
  HISTORY_PREFIX,
  REPO_CONFIG_KEY,
  catalogKey,
  historyKey,
  manifestKey,
  parseCatalogKey,
  type PointKind,
} from './layout.js';
import { acquireLock, type HeldLock, type LockRecord } from './lock.js';
import { CATALOG_FORMAT, type CatalogEntry, type ObjectRef, type RepositoryConfig } from './types.js';
import { VERSION } from '../../version.js';

export interface RepositoryOptions {
  storage: Storage;
  /** Public age recipients every new object is encrypted to (`backup.recipients`). */
  recipients: string[];
  /** Path of the age identity file (`backup.identity`); needed only to read sealed objects. */
  identityFile?: string;
  /** Local cache folder (`backup.stateDir`). */
  stateDir: string;
  clock: Clock;
  /** Worker threads for sealing/opening (default: the machine's parallelism). */
  workers?: number;
  /** zstd level for new objects. */
  level?: number;
}

/** What a new point is. */
export interface PointMeta {
  id: string;
  source: string;
  kind: PointKind;
  /** The moment the data represents, ms since epoch. */
  time: number;
  parent: string | null;
  set: string | null;
}

/** A record of a restore test or drill, kept in the repository's history (plaintext, no shop data). */
export interface HistoryRecord {
  kind: 'restore-test' | 'drill' | 'read-verify';
  id: string;
  time: string;
  ok: boolean;
  [key: string]: unknown;
}

export class Repository {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly stateDir: string;
  private readonly opts: RepositoryOptions;
  private recipientList?: Recipient[];
  private identityList?: Identity[];
  private writePool?: SealPool;
  private readPool?: SealPool;

  constructor(opts: RepositoryOptions) {
    this.opts = opts;
    this.storage = opts.storage;
    this.clock = opts.clock;
    this.stateDir = opts.stateDir;
  }

  /** The recipients to encrypt to; a clear error when none are configured. */
  recipients(): Recipient[] {
    if (!this.recipientList) {
      if (this.opts.recipients.length === 0) {
        throw new SafetynetError(
          'E_NO_RECIPIENTS',
          'no backup recipients are configured, so nothing can be encrypted',
          {
            hint: 'run `safetynet keygen`, keep the identity file safe (not on the backup storage), and put the printed age1… recipient in backup.recipients',
            exitCode: 2,
          },
        );
      }
      this.recipientList = parseRecipients(this.opts.recipients);
    }
    return this.recipientList;
  }

  /** True when an identity file is configured (it may still be missing on disk). */
  get hasIdentityConfigured(): boolean {
    return Boolean(this.opts.identityFile);
  }

  /** The identities to decrypt with; a clear error when none is configured or the file is missing. */
  async identities(): Promise<Identity[]> {
    if (!this.identityList) {
      if (!this.opts.identityFile) {
        throw new SafetynetError(
          'E_IDENTITY_MISSING',
          'no backup identity is configured, so backups cannot be read',
          {
            hint: 'set backup.identity to the path of the age identity file written by `safetynet keygen`',
            exitCode: 2,
          },
        );
      }
      this.identityList = await loadIdentities(this.opts.identityFile);
    }
    return this.identityList;
  }

  /** Worker pool that seals new objects. */
  sealPool(): SealPool {
    this.writePool ??= new SealPool({
      recipients: this.recipients(),
      ...(this.opts.workers ? { workers: this.opts.workers } : {}),
      ...(this.opts.level !== undefined ? { level: this.opts.level } : {}),
    });
    return this.writePool;
  }

  /** Worker pool that opens sealed objects. */
  async openPool(): Promise<SealPool> {
    if (!this.readPool) {
      const identities = await this.identities();
      this.readPool = new SealPool({
        recipients: [],
        identities,
        ...(this.opts.workers ? { workers: this.opts.workers } : {}),
      });
    }
    return this.readPool;
  }

  /** Reads the repository marker; undefined when the location holds no repository yet. */
  async readConfig(): Promise<RepositoryConfig | undefined> {
    let raw: Buffer;
    try {
      raw = await this.storage.get(REPO_CONFIG_KEY);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'E_OBJECT_MISSING') return undefined;
      throw err;
    }
    let parsed: RepositoryConfig;
    try {
      parsed = JSON.parse(raw.toString('utf8')) as RepositoryConfig;
    } catch {
      throw notARepository(this.storage.url, 'its marker object is not JSON');
    }
    if (parsed.format !== 'safetynet-repository')
      throw notARepository(this.storage.url, 'its marker object is foreign');
    if (parsed.version !== 1) {
      throw new SafetynetError(
        'E_REPO_VERSION',
        `repository ${this.storage.url} has format version ${parsed.version}; this safetynet reads version 1`,
        {
          hint: 'upgrade safetynet to read this repository',
        },
      );
    }
    return parsed;
  }

  private probedWrite?: Promise<void>;

  /**
   * Checks once that the storage is reachable and writable (creating a missing local repository
   * folder on purpose). Backups and prunes call this before taking the lock.
   */
  prepareForWrite(): Promise<void> {
    this.probedWrite ??= this.storage.probe('write');
    return this.probedWrite;
  }

  /** Creates the repository marker if the location is empty (the first backup does this). */
  async ensureInitialized(): Promise<RepositoryConfig> {
    const existing = await this.readConfig();
    if (existing) return existing;
    await this.prepareForWrite();
    const config: RepositoryConfig = {
      format: 'safetynet-repository',
      version: 1,
      id: randomBytes(8).toString('hex'),
      createdAt: new Date(this.clock.now()).toISOString(),
      recipients: this.opts.recipients,
    };
    await this.storage.put(REPO_CONFIG_KEY, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
    return config;
  }

  /** Throws E_REPO_NOT_FOUND unless the location holds a repository. */
  async requireConfig(): Promise<RepositoryConfig> {
    const c = await this.readConfig();
    if (!c) {
      throw new SafetynetError('E_REPO_NOT_FOUND', `no safetynet repository at ${this.storage.url}`, {
        hint: 'check backup.repository; a repository is created by the first `safetynet backup db`',
        exitCode: 2,
      });
    }
    return c;
  }

  /** Takes a repository lock (exclusive: backup, prune; shared: restore, verify). */
  async lock(
    purpose: string,
    exclusive: boolean,
    onStaleRemoved?: (l: LockRecord) => void,
  ): Promise<HeldLock> {
    const held = await acquireLock(this.storage, {
      purpose,
      exclusive,
      clock: this.clock,
      ...(onStaleRemoved ? { onStaleRemoved } : {}),
      ...this.lockTimings,
    });
    // Registered so every write of a point checks the lease is still ours (a lost lock stops the job).
    this.heldLocks.add(held);
    return {
      record: held.record,
      lost: held.lost,
      assertHeld: () => held.assertHeld(),
      release: async () => {
        this.heldLocks.delete(held);
        await held.release();
      },
    };
  }

  /** Lock refresh/lease periods (tests shorten them). */
  lockTimings: { refreshMs?: number; leaseMs?: number } = {};
  private readonly heldLocks = new Set<HeldLock>();

  /**
   * Throws LockError E_LOCK_LOST when a lock this repository handed out could not be kept: the
   * point writer and point deletion call it before each write, so a job whose lease lapsed stops
   * instead of running on unlocked.
   */
  assertLocksHeld(): void {
    for (const l of this.heldLocks) l.assertHeld();
  }

  /**
   * Every visible restore point, oldest first. Damaged catalog entries are left out (a damaged
   * entry's point cannot be used) and reported by `scanCatalog` / `safetynet verify`.
   */
  async listPoints(): Promise<CatalogEntry[]> {
    return (await this.scanCatalog()).entries;
  }

  /**
   * Reads the catalog. Catalog entries never change once written, so they are cached in stateDir
   * by key: a listing costs one LIST plus a GET per point not seen before.
   */
  async scanCatalog(): Promise<{ entries: CatalogEntry[]; damaged: { key: string; message: string }[] }> {
    const cacheDir = path.join(this.stateDir, 'catalog-cache');
    const keys: string[] = [];
    for await (const obj of this.storage.list(CATALOG_PREFIX)) {
      if (parseCatalogKey(obj.key)) keys.push(obj.key);
    }
    const damaged: { key: string; message: string }[] = [];
    const results = await mapLimit(keys, 16, async (key) => {
      const cacheFile = path.join(cacheDir, path.basename(key));
      try {
        return JSON.parse(await fsp.readFile(cacheFile, 'utf8')) as CatalogEntry;
      } catch {
        // not cached (or unreadable cache): fetch it
      }
      let raw: Buffer;
      try {
        raw = await this.storage.get(key);
      } catch (err) {
        if (err instanceof StorageError && err.code === 'E_OBJECT_MISSING') return undefined; // pruned meanwhile
        throw err;
      }
      let entry: CatalogEntry;
      try {
        entry = parseCatalogEntry(raw, key);
      } catch (err) {
        damaged.push({ key, message: (err as Error).message });
        return undefined;
      }
      await fsp.mkdir(cacheDir, { recursive: true }).catch(() => {});
      await fsp.writeFile(cacheFile, JSON.stringify(entry)).catch(() => {});
      return entry;
    });
    const entries = results.filter((e): e is CatalogEntry => e !== undefined);
    entries.sort((a, b) => (a.time === b.time ? (a.id < b.id ? -1 : 1) : a.time < b.time ? -1 : 1));
    // Forget cache files of points that no longer exist, so the cache cannot grow without bound.
    const live = new Set(keys.map((k) => path.basename(k)));
    const cached = await fsp.readdir(cacheDir).catch(() => [] as string[]);
    for (const f of cached) if (!live.has(f)) await fsp.rm(path.join(cacheDir, f), { force: true });
    return { entries, damaged };
  }

  /** Reads and decrypts a point's sealed manifest. */
  async readManifest<T>(entry: CatalogEntry): Promise<T> {
    const sealed = await this.storage.get(entry.manifest.key);
    const digest = createHash('sha256').update(sealed).digest('hex');
    if (digest !== entry.manifest.sha256) {
      throw new SafetynetError(
        'E_OBJECT_CORRUPT',
        `manifest ${entry.manifest.key} of point ${entry.id} does not match its checksum`,
        {
          hint: 'the stored object was changed or damaged; run `safetynet verify --read-data` and restore an older point',
          exitCode: 1,
          details: { key: entry.manifest.key, point: entry.id },
        },
      );
    }
    const plain = openBuffer(sealed, await this.identities(), { name: entry.manifest.key });
    return JSON.parse(plain.toString('utf8')) as T;
  }

  /** Starts writing a new point: data objects first, then `commit` writes manifest and catalog entry. */
  beginPoint(meta: PointMeta, opts: { maxInFlight?: number } = {}): PointWriter {
    return new PointWriter(this, meta, opts.maxInFlight ?? 4);
  }

  /**
   * Removes a point: its catalog entry first (the point disappears at once), then its manifest and
   * the data objects only it uses. `sharedKeys` lists keys other points still need (file chunks).
   */
  async deletePoint(entry: CatalogEntry, keepKeys: Set<string> = new Set()): Promise<number> {
    this.assertLocksHeld();
    // Durable: once this returns the point stays gone, even if the power fails before the data goes.
    await this.storage.delete(catalogKey(entry.id, entry.source, entry.kind), { durable: true });
    let freed = entry.manifest.size;
    await this.storage.delete(entry.manifest.key);
    for (const obj of entry.objects) {
      if (keepKeys.has(obj.key)) continue;
      await this.storage.delete(obj.key);
      freed += obj.size;
    }
    return freed;
  }

  /** Appends a record to the repository's history (restore tests, drills). */
  async writeHistory(record: HistoryRecord): Promise<string> {
    const key = historyKey(Date.parse(record.time), record.kind, record.id);
    await this.storage.put(key, Buffer.from(JSON.stringify(record, null, 2) + '\n'));
    return key;
  }

  /** History records, oldest first, optionally of one kind. */
  async listHistory(kind?: HistoryRecord['kind']): Promise<HistoryRecord[]> {
    const keys: string[] = [];
    for await (const obj of this.storage.list(HISTORY_PREFIX)) {
      if (!kind || obj.key.includes(`_${kind}_`)) keys.push(obj.key);
    }
    const out = await mapLimit(keys, 16, async (key) => {
      try {
        return JSON.parse((await this.storage.get(key)).toString('utf8')) as HistoryRecord;
      } catch {
        return undefined;
      }
    });
    return out.filter((r): r is HistoryRecord => r !== undefined);
  }

  /** Seals a small object (manifests) on this thread. */
  sealSmall(plain: Buffer): Buffer {
    return sealBuffer(plain, this.recipients());
  }

  async close(): Promise<void> {
    await Promise.all([this.writePool?.close(), this.readPool?.close()]);
    this.writePool = undefined;
    this.readPool = undefined;
    await this.storage.close();
  }
}

/**
 * Room for one sealed object in a PointWriter's reused buffers: a 16 MiB file pack of incompressible
 * data with age's tags and zstd's framing (database parts are 8 MiB). Larger objects are sealed into
 * fresh memory.
 */
const SEALED_SLOT_BYTES = 16 * 1024 * 1024 + 64 * 1024;

/** An object a PointWriter stored. */
export interface StoredObject {
  ref: ObjectRef;
  plainSha256: string;
  plainBytes: number;
}

/** Writes one point's objects with bounded parallelism, then commits it. */
export class PointWriter {
  readonly meta: PointMeta;
  private readonly repo: Repository;
  private readonly maxInFlight: number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly objects: ObjectRef[] = [];
  private readonly written: string[] = [];
  private failure: unknown;
  private storedBytes = 0;
  readonly startedAt: number;

  constructor(repo: Repository, meta: PointMeta, maxInFlight: number) {
    this.repo = repo;
    this.meta = meta;
    this.maxInFlight = Math.max(1, maxInFlight);
    this.startedAt = repo.clock.now();
  }

  /**
   * Seals `plain` in the worker pool and stores it under `key` at position `index` of the point's
   * object list. Resolves once the work is queued (waits while too much is in flight), so the
   * caller can read the next part meanwhile. `stored` settles when the object is stored (wrapped
   * in an object because awaiting a promise of a promise would wait for both).
   */
  async add(
    index: number,
    key: string,
    plain: Buffer,
    opts: { ifAbsent?: boolean; skipPlainHash?: boolean } = {},
  ): Promise<{ stored: Promise<StoredObject> }> {
    this.throwIfFailed();
    this.repo.assertLocksHeld();
    while (this.inFlight.size >= this.maxInFlight) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
    const work = (async () => {
      // Sealed into one of a few reused shared buffers (fresh memory per object was a large part
      // of a backup's system time on the VMs we measured), or into fresh memory when it does not fit.
      const slot = this.sealedSlot();
      try {
        return await this.store(index, key, plain, slot, opts);
      } finally {
        if (slot) this.slots!.give(slot);
      }
    })();
    const tracked = work.then(
      () => {},
      (err) => {
        this.failure ??= err;
      },
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    // Failures surface through drain()/commit(); keep this promise from being reported as unhandled.
    work.catch(() => {});
    return { stored: work };
  }

  /** One reused sealed-object buffer per object in flight, allocated at the first add. */
  private slots: SlotPool | undefined;

  private sealedSlot(): Uint8Array | undefined {
    this.slots ??= new SlotPool(this.maxInFlight, SEALED_SLOT_BYTES);
    return this.slots.tryTake();
  }

  /** Seals `plain` (into `slot` when given and it fits, else into fresh memory) and stores it. */
  private async store(
    index: number,
    key: string,
    plain: Buffer,
    slot: Uint8Array | undefined,
    opts: { ifAbsent?: boolean; skipPlainHash?: boolean },
  ): Promise<StoredObject> {
    const pool = this.repo.sealPool();
    const hashOpt = opts.skipPlainHash ? { skipPlainHash: true } : {};
    const plainBytes = plain.length;
    const { sealed, plainSha256, sealedSha256 } = slot
      ? await pool.sealInto(plain, slot, { transfer: true, ...hashOpt })
      : await pool.seal(plain, { transfer: true, ...hashOpt });
    if (opts.ifAbsent) {
      try {
        await this.repo.storage.put(key, sealed, { ifAbsent: true, size: sealed.length });
        this.storedBytes += sealed.length;
        this.written.push(key);
      } catch (err) {
        if (!(err instanceof StorageError && err.code === 'E_OBJECT_EXISTS')) throw err;
      }
    } else {
      await this.repo.storage.put(key, sealed, { size: sealed.length });
      this.storedBytes += sealed.length;
      this.written.push(key);
    }
    const ref: ObjectRef = { key, size: sealed.length, sha256: sealedSha256 };
    this.objects[index] = ref;
    return { ref, plainSha256, plainBytes };
  }

  /** Records an object that already exists in the repository (deduplicated content). */
  reference(index: number, ref: ObjectRef): void {
    this.objects[index] = ref;
  }

  /** Waits for every queued object; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inFlight.size) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  /**
   * Stores the sealed manifest, then the catalog entry (the commit point). `manifest` is the
   * complete sealed-manifest body; `catalog` adds the plaintext facts for listings.
   */
  async commit(
    manifest: object,
    catalog: { logicalBytes: number; summary?: CatalogEntry['summary']; incomplete?: boolean },
  ): Promise<CatalogEntry> {
    await this.drain();
    const holes = this.objects.findIndex((o) => o === undefined);
    if (holes !== -1) throw new Error(`internal: object ${holes} of point ${this.meta.id} was never stored`);
    const repo = this.repo;
    repo.assertLocksHeld();
    const sealed = repo.sealSmall(Buffer.from(JSON.stringify(manifest)));
    const mKey = manifestKey(this.meta.id);
    await repo.storage.put(mKey, sealed, { size: sealed.length });
    this.written.push(mKey);
    this.storedBytes += sealed.length;
    const completedAt = repo.clock.now();
    const entry: CatalogEntry = {
      format: CATALOG_FORMAT,
      id: this.meta.id,
      source: this.meta.source,
      kind: this.meta.kind,
      time: new Date(this.meta.time).toISOString(),
      completedAt: new Date(completedAt).toISOString(),
      durationMs: completedAt - this.startedAt,
      parent: this.meta.parent,
      set: this.meta.set,
      objects: this.objects,
      manifest: { key: mKey, size: sealed.length, sha256: createHash('sha256').update(sealed).digest('hex') },
      logicalBytes: catalog.logicalBytes,
      storedBytes: this.storedBytes,
      ...(catalog.incomplete ? { incomplete: true } : {}),
      ...(catalog.summary ? { summary: catalog.summary } : {}),
    };
    repo.assertLocksHeld();
    const cKey = catalogKey(this.meta.id, this.meta.source, this.meta.kind);
    // Counted as written before the put: a write that landed but was reported failed (a reset
    // after the server stored it) must still be removed by abort(), or a half-aborted point shows.
    this.written.unshift(cKey);
    await repo.storage.put(cKey, Buffer.from(JSON.stringify(entry, null, 2) + '\n'));
    return entry;
  }

  /** Best-effort removal of everything this writer stored (the point never became visible). */
  async abort(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    const keys = [...this.written];
    // The catalog entry (first in `written` once commit got that far) goes first, durably. If it
    // cannot be removed the point may be visible, and it is complete: then nothing else may go.
    if (keys[0]?.startsWith(CATALOG_PREFIX)) {
      try {
        await this.repo.storage.delete(keys.shift()!, { durable: true });
      } catch {
        return;
      }
    }
    for (const key of keys) await this.repo.storage.delete(key).catch(() => {});
  }

  get bytesStored(): number {
    return this.storedBytes;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

function parseCatalogEntry(raw: Buffer, key: string): CatalogEntry {
  try {
    const e = JSON.parse(raw.toString('utf8')) as CatalogEntry;
    const parsedKey = parseCatalogKey(key);
    if (typeof e.id !== 'string' || !Array.isArray(e.objects) || !e.manifest || typeof e.time !== 'string') {
      throw new Error('missing fields');
    }
    if (!parsedKey || parsedKey.id !== e.id || parsedKey.kind !== e.kind || parsedKey.source !== e.source) {
      throw new Error('its content does not match its name');
    }
    return e;
  } catch (err) {
    throw new SafetynetError(
      'E_CATALOG_CORRUPT',
      `catalog entry ${key} is damaged: ${(err as Error).message}`,
      {
        hint: 'run `safetynet verify`; the point it describes cannot be used until the entry is repaired or removed',
        exitCode: 1,
      },
    );
  }
}

function notARepository(url: string, why: string): SafetynetError {
  return new SafetynetError('E_NOT_A_REPOSITORY', `${url} is not a safetynet repository (${why})`, {
    hint: 'point backup.repository at an empty location or an existing safetynet repository',
    exitCode: 2,
  });
}

/** Runs `fn` over `items` with at most `limit` at once, keeping order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** This machine's name, for manifests. */
export function createdBy(): { host: string; version: string } {
  return { host: hostname(), version: VERSION };
}
