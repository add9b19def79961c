/**
 * The page index: a short hash of every page of the database as of the newest point, kept in
 * backup.stateDir. An incremental compares the current pages with it and stores only those that
 * differ. It is a cache: when it is missing or belongs to another point, the next backup is a full
 * one, so losing it costs bytes, never correctness.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createHash, hash } from 'node:crypto';
import { writeFileAtomic } from '../../../util/fs.js';

/** Bytes of each page's digest kept in the index (a SHA-256 prefix). */
export const PAGE_DIGEST_BYTES = 16;

export interface PageIndexHeader {
  version: 1;
  /** The point these page hashes describe. */
  pointId: string;
  repository: string;
  database: string;
  pageSize: number;
  pageCount: number;
}

export interface PageIndex {
  header: PageIndexHeader;
  /** pageCount × PAGE_DIGEST_BYTES bytes: digest of page n (1-based) at offset (n-1)*PAGE_DIGEST_BYTES. */
  digests: Buffer;
}

/** Where the index for this database and repository lives. */
export function pageIndexPath(
  stateDir: string,
  repository: string,
  database: string,
  folder = 'sqlite',
): string {
  const id = createHash('sha256').update(repository).update('\0').update(database).digest('hex').slice(0, 16);
  return path.join(stateDir, folder, `${id}.pages`);
}

/** Loads the index, or undefined when it is missing or unreadable. */
export async function loadPageIndex(file: string): Promise<PageIndex | undefined> {
  let raw: Buffer;
  try {
    raw = await fsp.readFile(file);
  } catch {
    return undefined;
  }
  const nl = raw.indexOf(0x0a);
  if (nl < 0) return undefined;
  try {
    const header = JSON.parse(raw.subarray(0, nl).toString('utf8')) as PageIndexHeader;
    const digests = raw.subarray(nl + 1);
    if (header.version !== 1 || digests.length !== header.pageCount * PAGE_DIGEST_BYTES) return undefined;
    return { header, digests };
  } catch {
    return undefined;
  }
}

/** Saves the index atomically. */
export async function savePageIndex(file: string, index: PageIndex): Promise<void> {
  await writeFileAtomic(
    file,
    Buffer.concat([Buffer.from(JSON.stringify(index.header) + '\n'), index.digests]),
  );
}

/** Writes the digest of each page of `chunk` (whose first page is `firstPage`, 1-based) into `digests`. */
export function digestPages(chunk: Buffer, pageSize: number, firstPage: number, digests: Buffer): void {
  const pages = chunk.length / pageSize;
  for (let i = 0; i < pages; i++) {
    const d = hash('sha256', chunk.subarray(i * pageSize, (i + 1) * pageSize), 'buffer') as unknown as Buffer;
    d.copy(digests, (firstPage - 1 + i) * PAGE_DIGEST_BYTES, 0, PAGE_DIGEST_BYTES);
  }
}
