/** Messages between the files-restore pool and its worker threads. */

export interface RestoreWorkerInit {
  /** Identity texts, in memory only (never written anywhere). */
  identities: string[];
  identitySources: (string | undefined)[];
}

/** One blob of the pack to put in place. */
export interface BlobTask {
  /** Index of the file in the caller's plan (echoed back). */
  file: number;
  /** Offset and length of the blob in the pack's plaintext. */
  offset: number;
  length: number;
  /** Expected SHA-256 of the blob (the file's own for a single-blob file). */
  sha256: string;
  /**
   * whole: the blob is the entire file: write it to `path` (new file, O_EXCL) or, when `tmp` is
   * given, to `tmp` and then rename over `path` (--force).
   * part: write it at `fileOffset` into `tmp` (created if missing); the caller finishes the file.
   */
  kind: 'whole' | 'part';
  path: string;
  tmp?: string;
  fileOffset?: number;
  mode: number;
  mtimeMs: number;
}

export interface PackTask {
  id: number;
  /** The sealed pack (shared memory read in place, or transferred). */
  sealed: Uint8Array;
  name: string;
  blobs: BlobTask[];
}

export interface BlobResult {
  file: number;
  ok: boolean;
  message?: string;
  /** errno code of a write failure (ENOSPC ends the restore). */
  errno?: string;
}

export type PackResponse =
  | { id: number; ok: true; results: BlobResult[]; bytes: number }
  /** The pack itself could not be opened: every blob in it failed. `code` is the error's code. */
  | { id: number; ok: false; code: string; message: string; fatal: boolean };
