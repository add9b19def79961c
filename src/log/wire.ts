/**
 * How rows travel from the logger to its writer thread: one flat array per batch, ROW_STRIDE
 * values per row. A flat array of primitives is the cheapest thing to post between threads
 * (measured: about a third of the cost of an array of objects), and posting is on the hot path.
 */
import type { LogStoreConfig } from '../config/types.js';
import type { Level } from './types.js';
import type { AppendRow } from './store/types.js';

/** ts, level, category, message, details, orderId, errorStack, webhook provider, webhook event id. */
export const ROW_STRIDE = 9;

export type FlatRows = (string | number | null)[];

export interface AppendMessage {
  t: 'append';
  seq: number;
  count: number;
  rows: FlatRows;
}

export type Ack =
  | { seq: number; kind: 'store'; firstId: number }
  | { seq: number; kind: 'spool'; file: string; firstLine: number };

export interface WorkerData {
  /** The store to write (plain data: it crosses to the writer thread). */
  store: LogStoreConfig;
  spoolDir: string;
  busyTimeoutMs: number;
  retryMs: number;
  stdout: boolean;
  processToken: string;
  /** Int32Array(1) over it: the highest acknowledged seq. */
  ackBuffer: SharedArrayBuffer;
}

/** Rows back into AppendRow objects (on the writer's side). */
export function decodeRows(flat: FlatRows): AppendRow[] {
  const out: AppendRow[] = new Array<AppendRow>(flat.length / ROW_STRIDE);
  for (let i = 0, j = 0; i < flat.length; i += ROW_STRIDE, j++) {
    const row: AppendRow = {
      ts: flat[i] as number,
      level: flat[i + 1] as Level,
      category: flat[i + 2] as string,
      message: flat[i + 3] as string,
      details: flat[i + 4] as string,
      orderId: flat[i + 5] as string | null,
      errorStack: flat[i + 6] as string | null,
    };
    const provider = flat[i + 7];
    if (provider !== null) row.webhook = { provider: provider as string, eventId: flat[i + 8] as string };
    out[j] = row;
  }
  return out;
}
