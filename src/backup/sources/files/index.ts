/**
 * File-set backups: the pieces behind `backup files` / `restore files` (./backup.ts, ./restore.ts)
 * that other parts of safetynet use.
 */
export { verifyFilesPoints, type FilesVerifyProblem, type FilesVerifyResult } from './verify.js';
export { loadFilesPoint, readFilesManifest, type LoadedPoint, type LoadedSet } from './point-reader.js';
export { filesPoints, setsOf, livePacks, newestPerSet, FILES_SOURCE } from './points.js';
export type {
  FilesManifest,
  SetRecord,
  SegmentRef,
  Segment,
  EntryRecord,
  FileRecord,
  FileProblem,
  SkippedEntry,
  BlobRef,
} from './manifest.js';
