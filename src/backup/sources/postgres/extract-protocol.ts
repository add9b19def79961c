/** Messages between the restore's extraction pool (extract-pool.ts) and its workers. */
import type { SerializedError } from '../../crypto/pool-protocol.js';
import type { TarState } from './tar-plan.js';

export interface ExtractInit {
  /** Identity texts, in memory only. */
  identities: string[];
  identitySources: (string | undefined)[];
  /** The data directory being built. */
  root: string;
}

/** A sealed object with what the manifest says of it (checked on the worker). */
export interface SealedObject {
  key: string;
  sealed: Uint8Array;
  sealedSha256?: string;
  plainBytes?: number;
  plainSha256?: string;
}

export type ExtractRequest =
  /** Open part `index` of the base backup and keep it until its state comes. */
  | { type: 'part'; index: number; object: SealedObject }
  /** The tar stream's state at the start of part `index`: read it, write it. */
  | { type: 'state'; index: number; state: TarState }
  /** Write the WAL file `path` of `size` bytes from its object(s), each at its offset. */
  | {
      type: 'file';
      id: number;
      path: string;
      size: number;
      pieces: { object: SealedObject; start: number }[];
    };

export type ExtractResponse =
  /** Part `index` is read; `state` is where the stream stands after it. Its writes follow. */
  | { type: 'parsed'; index: number; state: TarState }
  | { type: 'written'; index: number }
  | { type: 'fileDone'; id: number }
  | { type: 'error'; index?: number; id?: number; error: SerializedError };
