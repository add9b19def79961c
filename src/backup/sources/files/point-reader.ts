/**
 * Reads a files point: its sealed manifest, then the folder segments a caller needs (each pack
 * holding segments is fetched and opened once), all checked before use.
 */
import { createHash } from 'node:crypto';
import { mapLimit, type Repository } from '../../repo/repository.js';
import type { CatalogEntry } from '../../repo/types.js';
import {
  checkSetEntries,
  validateFilesManifest,
  validateSegment,
  type EntryRecord,
  type FilesManifest,
  type SegmentRef,
  type SetRecord,
} from './manifest.js';
import { SafetynetError } from '../../../errors.js';

export interface LoadedSet {
  record: SetRecord;
  /** Entries of the loaded segments, in segment order. */
  entries: EntryRecord[];
}

export interface LoadedPoint {
  entry: CatalogEntry;
  manifest: FilesManifest;
  sets: LoadedSet[];
}

export interface LoadOptions {
  /** Only these sets (default all). */
  sets?: readonly string[];
  /** Only segments of folders this accepts (default all). */
  wantFolder?: (set: string, folder: string) => boolean;
}

/** Reads, decrypts and checks a files point's manifest (no segments). */
export async function readFilesManifest(repo: Repository, entry: CatalogEntry): Promise<FilesManifest> {
  const raw = await repo.readManifest<unknown>(entry);
  return validateFilesManifest(raw, entry.id, new Set(entry.objects.map((o) => o.key)));
}

function segmentDamaged(entry: CatalogEntry, set: string, ref: SegmentRef, why: string): SafetynetError {
  return new SafetynetError(
    'E_MANIFEST_INVALID',
    `the file list of folder ${JSON.stringify(ref.folder)} in set "${set}" of files point ${entry.id} ${why}`,
    {
      hint: 'the pack holding it was damaged or forged; nothing was written. Restore another point (`safetynet backups list`) and run `safetynet verify --read-data`',
      exitCode: 1,
      details: { point: entry.id, pack: ref.pack },
    },
  );
}

/** Reads a point's manifest and the wanted segments of the wanted sets. */
export async function loadFilesPoint(
  repo: Repository,
  entry: CatalogEntry,
  opts: LoadOptions = {},
): Promise<LoadedPoint> {
  const manifest = await readFilesManifest(repo, entry);
  const packs = new Set(entry.objects.map((o) => o.key));
  const sets = manifest.sets.filter((s) => !opts.sets || opts.sets.includes(s.name));
  const wanted: { set: number; seg: number; ref: SegmentRef }[] = [];
  sets.forEach((s, si) =>
    s.segments.forEach((ref, gi) => {
      if (!opts.wantFolder || opts.wantFolder(s.name, ref.folder)) wanted.push({ set: si, seg: gi, ref });
    }),
  );
  const byPack = new Map<string, typeof wanted>();
  for (const w of wanted) byPack.set(w.ref.pack, [...(byPack.get(w.ref.pack) ?? []), w]);
  const decoded: EntryRecord[][][] = sets.map((s) => s.segments.map(() => []));
  const pool = byPack.size ? await repo.openPool() : undefined;
  await mapLimit([...byPack.entries()], 3, async ([pack, list]) => {
    const sealed = await repo.storage.get(pack);
    const { plain } = await pool!.open(sealed, { transfer: true, name: pack });
    for (const w of list) {
      const setName = sets[w.set]!.name;
      if (w.ref.offset + w.ref.length > plain.length)
        throw segmentDamaged(entry, setName, w.ref, 'lies outside its pack');
      const bytes = plain.subarray(w.ref.offset, w.ref.offset + w.ref.length);
      if (createHash('sha256').update(bytes).digest('hex') !== w.ref.sha256)
        throw segmentDamaged(entry, setName, w.ref, 'does not match its SHA-256');
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw segmentDamaged(entry, setName, w.ref, 'is not JSON');
      }
      decoded[w.set]![w.seg] = validateSegment(json, w.ref, setName, entry.id, packs).entries;
    }
  });
  const loaded = sets.map((record, si) => {
    const entries = decoded[si]!.flat();
    checkSetEntries(entries, record.name, entry.id);
    return { record, entries };
  });
  return { entry, manifest, sets: loaded };
}
