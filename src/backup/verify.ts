/**
 * `safetynet verify`: checks that every restore point can be restored. Without --read-data it
 * checks that each object a point needs exists with the right size (one LIST, no downloads); with
 * --read-data it downloads every object once and checks the SHA-256 of the stored bytes (no
 * identity needed for that), then, when the identity is available, decrypts and decompresses it
 * and checks the plaintext against the manifest. Every problem names the object and every restore
 * point it breaks, including incrementals that build on a broken point.
 */
import { createHash } from 'node:crypto';
import { CHUNK_PREFIX, DATA_PREFIX, MANIFEST_PREFIX } from './repo/layout.js';
import { mapLimit, type Repository } from './repo/repository.js';
import type { CatalogEntry, ObjectRef, PartRecord } from './repo/types.js';
import type { BackupDeps } from './context.js';
import { SafetynetError, StorageError } from '../errors.js';
import { verifyFilesPoints } from './sources/files/verify.js';
import { databaseSource } from './sources/index.js';

export type ProblemKind = 'missing' | 'size' | 'checksum' | 'unreadable' | 'catalog' | 'chain';

export interface VerifyProblem {
  /** The object (or catalog entry) at fault. */
  key: string;
  kind: ProblemKind;
  message: string;
  /** Every restore point this problem makes unrestorable. */
  points: string[];
}

export interface VerifyResult {
  ok: boolean;
  points: number;
  objects: number;
  readData: boolean;
  /** True when objects were also decrypted (the identity was available). */
  decrypted: boolean;
  bytesRead: number;
  problems: VerifyProblem[];
  durationMs: number;
  /** Why decryption was skipped, when it was. */
  note?: string;
  /** With `slice`: which slice was read, and how many objects it held. */
  slice?: { index: number; count: number; objects: number };
}

export interface VerifyOptions {
  readData: boolean;
  /**
   * Read only slice `index` of `count` (objects bucketed by a hash of their key), for the
   * rotating read-verify: `count` runs with index 0..count-1 read every object once. Existence
   * and sizes are still checked for every object; file points get the structure check only.
   */
  slice?: { index: number; count: number };
}

/** Which of `count` slices an object belongs to (stable: a hash of its key). */
export function sliceOf(key: string, count: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % count;
}

/** Verifies the repository. Takes a shared lock so a prune cannot delete objects meanwhile. */
export async function verifyRepository(deps: BackupDeps, opts: VerifyOptions): Promise<VerifyResult> {
  const { repo } = deps;
  const started = performance.now();
  await repo.requireConfig();
  const lock = await repo.lock('verify', false);
  try {
    const { entries, damaged } = await repo.scanCatalog();
    const problems: VerifyProblem[] = damaged.map((d) => ({
      key: d.key,
      kind: 'catalog',
      message: d.message,
      points: [],
    }));
    const dependents = dependentsOf(entries);
    const byId = new Map(entries.map((e) => [e.id, e]));

    // Which points need each object (manifests included).
    const users = new Map<string, { ref: ObjectRef; points: Set<string> }>();
    for (const e of entries) {
      for (const ref of [...e.objects, e.manifest]) {
        const u = users.get(ref.key) ?? { ref, points: new Set<string>() };
        u.points.add(e.id);
        users.set(ref.key, u);
      }
      if (e.kind === 'incremental' && (!e.parent || !byId.has(e.parent))) {
        problems.push({
          key: `catalog/${e.id}`,
          kind: 'chain',
          message: `incremental point ${e.id} builds on ${e.parent ?? '(nothing)'}, which is not in the repository`,
          points: [e.id, ...(dependents.get(e.id) ?? [])],
        });
      }
    }
    const affected = (points: Set<string>) => {
      const all = new Set<string>();
      for (const p of points) {
        all.add(p);
        for (const d of dependents.get(p) ?? []) all.add(d);
      }
      return [...all].sort();
    };

    // Existence and size, from listings.
    const listed = new Map<string, number>();
    for (const prefix of [DATA_PREFIX, CHUNK_PREFIX, MANIFEST_PREFIX]) {
      for await (const o of repo.storage.list(prefix)) listed.set(o.key, o.size);
    }
    const present: { ref: ObjectRef; points: Set<string> }[] = [];
    for (const [key, u] of users) {
      const size = listed.get(key);
      if (size === undefined) {
        problems.push({
          key,
          kind: 'missing',
          message: `object ${key} is missing`,
          points: affected(u.points),
        });
      } else if (size !== u.ref.size) {
        problems.push({
          key,
          kind: 'size',
          message: `object ${key} has ${size} bytes, expected ${u.ref.size}`,
          points: affected(u.points),
        });
      } else {
        present.push(u);
      }
    }

    let bytesRead = 0;
    let decrypted = false;
    let note: string | undefined;
    const slice = opts.slice;
    const toRead = slice ? present.filter((u) => sliceOf(u.ref.key, slice.count) === slice.index) : present;
    if (opts.readData) {
      // Plaintext checksums the manifests promise, per object key (database parts).
      let plainHashes: Map<string, string> | undefined;
      let pool: Awaited<ReturnType<Repository['openPool']>> | undefined;
      if (repo.hasIdentityConfigured) {
        try {
          pool = await repo.openPool();
          plainHashes = await manifestPlainHashes(repo, entries, problems, affected);
          decrypted = true;
        } catch (err) {
          if (!(err instanceof SafetynetError) || !err.code.startsWith('E_IDENTITY')) throw err;
          note = `objects were checked against their stored checksums but not decrypted: ${err.message}`;
        }
      } else {
        note =
          'objects were checked against their stored checksums but not decrypted: backup.identity is not set';
      }
      deps.progress.start(
        'reading data',
        toRead.reduce((n, u) => n + u.ref.size, 0),
      );
      await mapLimit(toRead, 4, async (u) => {
        let sealed: Buffer;
        try {
          sealed = await repo.storage.get(u.ref.key);
        } catch (err) {
          if (err instanceof StorageError && err.code === 'E_OBJECT_MISSING') {
            problems.push({
              key: u.ref.key,
              kind: 'missing',
              message: `object ${u.ref.key} is missing`,
              points: affected(u.points),
            });
            return;
          }
          throw err;
        }
        bytesRead += sealed.length;
        deps.progress.advance(sealed.length);
        const digest = createHash('sha256').update(sealed).digest('hex');
        if (digest !== u.ref.sha256) {
          problems.push({
            key: u.ref.key,
            kind: 'checksum',
            message: `object ${u.ref.key} does not match its checksum (stored bytes changed)`,
            points: affected(u.points),
          });
          return;
        }
        if (!pool || u.ref.key.startsWith(MANIFEST_PREFIX)) return; // manifests were opened above
        try {
          const { plainSha256 } = await pool.open(sealed, { transfer: true, name: u.ref.key });
          const expected = plainHashes?.get(u.ref.key);
          if (expected && expected !== plainSha256) {
            problems.push({
              key: u.ref.key,
              kind: 'checksum',
              message: `object ${u.ref.key} decrypts to data that does not match its manifest`,
              points: affected(u.points),
            });
          }
        } catch (err) {
          problems.push({
            key: u.ref.key,
            kind: 'unreadable',
            message: `object ${u.ref.key} cannot be decrypted or decompressed: ${(err as Error).message}`,
            points: affected(u.points),
          });
        }
      });
      deps.progress.done();
    }
    // File points: their manifests and folder lists (and, with --read-data, every blob's SHA-256).
    if (decrypted || (!opts.readData && repo.hasIdentityConfigured)) {
      try {
        const broken = new Set(problems.map((p) => p.key));
        const files = await verifyFilesPoints(repo, entries, {
          readData: opts.readData && decrypted && !slice,
        });
        bytesRead += files.bytesRead;
        // A pack already reported missing or damaged above is not reported twice.
        for (const p of files.problems)
          if (!broken.has(p.key)) problems.push({ ...p, points: affected(new Set(p.points)) });
      } catch (err) {
        if (!(err instanceof SafetynetError) || !err.code.startsWith('E_IDENTITY')) throw err;
        note ??= `file points were not decrypted: ${err.message}`;
      }
    }
    // A continuous log (PostgreSQL WAL): the chain from each base point onward has no gap.
    const source = databaseSource(deps.config);
    if (source.verifyLog) {
      const dbPoints = entries.filter((e) => e.source === 'db');
      problems.push(...(await source.verifyLog(deps, dbPoints, opts.readData && decrypted)));
    }
    problems.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      ok: problems.length === 0,
      points: entries.length,
      objects: users.size,
      readData: opts.readData,
      decrypted,
      bytesRead,
      problems,
      durationMs: Math.round(performance.now() - started),
      ...(note ? { note } : {}),
      ...(slice ? { slice: { ...slice, objects: toRead.length } } : {}),
    };
  } finally {
    await lock.release().catch(() => {});
  }
}

/** Opens every database manifest and collects the plaintext SHA-256 of each part. */
async function manifestPlainHashes(
  repo: Repository,
  entries: CatalogEntry[],
  problems: VerifyProblem[],
  affected: (points: Set<string>) => string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await mapLimit(entries, 8, async (e) => {
    let m: { parts?: PartRecord[] };
    try {
      m = await repo.readManifest<{ parts?: PartRecord[] }>(e);
    } catch (err) {
      if (err instanceof SafetynetError && err.code.startsWith('E_IDENTITY')) throw err;
      if (err instanceof StorageError && err.code === 'E_OBJECT_MISSING') return; // reported as missing
      problems.push({
        key: e.manifest.key,
        kind: 'unreadable',
        message: `manifest ${e.manifest.key} of point ${e.id} cannot be read: ${(err as Error).message}`,
        points: affected(new Set([e.id])),
      });
      return;
    }
    if ((e.source === 'db' || e.source === 'logs') && Array.isArray(m.parts))
      for (const p of m.parts) out.set(p.key, p.plainSha256);
  });
  return out;
}

/** For each point, every point that builds on it (directly or through other incrementals). */
export function dependentsOf(entries: CatalogEntry[]): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const e of entries) {
    if (e.parent) children.set(e.parent, [...(children.get(e.parent) ?? []), e.id]);
  }
  const out = new Map<string, string[]>();
  for (const e of entries) {
    const seen = new Set<string>();
    const stack = [...(children.get(e.id) ?? [])];
    while (stack.length) {
      const c = stack.pop()!;
      if (seen.has(c)) continue;
      seen.add(c);
      stack.push(...(children.get(c) ?? []));
    }
    out.set(e.id, [...seen]);
  }
  return out;
}
