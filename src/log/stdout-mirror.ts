/**
 * The optional stdout mirror (`logs.stdout`): each stored entry as one JSON line in pino's layout
 * (`level` as pino's number, `time` in ms, `pid`, `hostname`, `msg`), so container log collectors
 * and pino-pretty read it as they read pino. `critical` maps to pino's `fatal` (60).
 */
import { hostname } from 'node:os';
import type { Level } from './types.js';
import type { AppendRow } from './store/types.js';

export const PINO_LEVEL: Readonly<Record<Level, number>> = { info: 30, warn: 40, error: 50, critical: 60 };

const HEAD = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;

/** One mirror line (with trailing newline) for an entry stored under `id`. */
export function mirrorLine(row: AppendRow, id: string): string {
  let s = `{"level":${PINO_LEVEL[row.level]},"time":${row.ts}${HEAD},"id":${JSON.stringify(id)},"category":${JSON.stringify(row.category)}`;
  if (row.orderId !== null) s += `,"order_id":${JSON.stringify(row.orderId)}`;
  // details is already JSON object text: embed it as it is, no second serialisation.
  if (row.details !== '{}') s += `,"details":${row.details}`;
  if (row.errorStack !== null) s += `,"err":{"stack":${JSON.stringify(row.errorStack)}}`;
  return s + `,"msg":${JSON.stringify(row.message)}}\n`;
}
