/**
 * Files-specific checks for `safetynet verify`, on top of the generic ones (every object a point
 * lists exists, has its size and, with --read-data, its stored SHA-256):
 * - every point's manifest and folder segments decrypt, parse and pass validation (paths, packs
 *   listed in the point's catalog entry, blob ranges);
 * - with `readData`, every pack holding file content is opened once (however many points share it)
 *   and every blob any point uses is checked against its SHA-256 (a single-blob file's is the
 *   file's own), so a flipped byte names the files and points it breaks.
 * Needs the identity; the caller skips this (with a note) when it is not available.
 */
import { createHash } from 'node:crypto';
import { StorageError } from '../../../errors.js';
import { mapLimit, type Repository } from '../../repo/repository.js';
import type { CatalogEntry } from '../../repo/types.js';
import { loadFilesPoint } from './point-reader.js';
import { filesPoints } from './points.js';

/** Same shape as the generic verify's problems, so the caller can merge them. */
export interface FilesVerifyProblem {
  key: string;
  kind: 'missing' | 'checksum' | 'unreadable' | 'catalog';
  message: string;
  points: string[];
}

export interface FilesVerifyResult {
  points: number;
  packsRead: number;
  blobsChecked: number;
  bytesRead: number;
  problems: FilesVerifyProblem[];
}

interface BlobUse {
  offset: number;
  length: number;
  sha256: string;
  where: string;
  point: string;
}

/** Verifies the files points among `entries` (other points are ignored). */
export async function verifyFilesPoints(
  repo: Repository,
  entries: readonly CatalogEntry[],
  opts: { readData: boolean; onProgress?: (bytes: number) => void },
): Promise<FilesVerifyResult> {
  const points = filesPoints(entries);
  const problems: FilesVerifyProblem[] = [];
  const uses = new Map<string, BlobUse[]>();
  for (const entry of points) {
    let point;
    try {
      point = await loadFilesPoint(repo, entry);
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('E_IDENTITY')) throw err;
      const missing = err instanceof StorageError && err.code === 'E_OBJECT_MISSING';
      problems.push({
        key: entry.manifest.key,
        kind: missing ? 'missing' : 'unreadable',
        message: `the file lists of files point ${entry.id} cannot be read: ${(err as Error).message}`,
        points: [entry.id],
      });
      continue;
    }
    if (!opts.readData) continue;
    for (const s of point.sets) {
      for (const e of s.entries) {
        if (e.type !== 'file') continue;
        for (const b of e.blobs) {
          const list = uses.get(b.pack) ?? [];
          list.push({
            offset: b.offset,
            length: b.length,
            sha256: e.blobs.length > 1 ? b.sha256! : e.sha256,
            where: `${s.record.name}/${e.path}`,
            point: entry.id,
          });
          uses.set(b.pack, list);
        }
      }
    }
  }
  let packsRead = 0;
  let blobsChecked = 0;
  let bytesRead = 0;
  if (opts.readData && uses.size) {
    const pool = await repo.openPool();
    await mapLimit([...uses.entries()], 3, async ([pack, list]) => {
      const affected = () => [...new Set(list.map((u) => u.point))].sort();
      let plain: Buffer;
      try {
        const sealed = await repo.storage.get(pack);
        bytesRead += sealed.length;
        opts.onProgress?.(sealed.length);
        plain = (await pool.open(sealed, { transfer: true, name: pack })).plain;
      } catch (err) {
        const missing = err instanceof StorageError && err.code === 'E_OBJECT_MISSING';
        problems.push({
          key: pack,
          kind: missing ? 'missing' : 'unreadable',
          message: `pack ${pack} ${missing ? 'is missing' : `cannot be opened: ${(err as Error).message}`}`,
          points: affected(),
        });
        return;
      }
      packsRead++;
      const bad: BlobUse[] = [];
      const checked = new Map<string, boolean>();
      for (const u of list) {
        const k = `${u.offset}:${u.length}:${u.sha256}`;
        let ok = checked.get(k);
        if (ok === undefined) {
          ok =
            u.offset + u.length <= plain.length &&
            createHash('sha256')
              .update(plain.subarray(u.offset, u.offset + u.length))
              .digest('hex') === u.sha256;
          checked.set(k, ok);
          blobsChecked++;
        }
        if (!ok) bad.push(u);
      }
      if (bad.length) {
        const files = [...new Set(bad.map((u) => u.where))];
        problems.push({
          key: pack,
          kind: 'checksum',
          message: `pack ${pack}: ${files.length} file(s) do not match their SHA-256, e.g. ${files.slice(0, 5).join(', ')}`,
          points: [...new Set(bad.map((u) => u.point))].sort(),
        });
      }
    });
  }
  return { points: points.length, packsRead, blobsChecked, bytesRead, problems };
}
