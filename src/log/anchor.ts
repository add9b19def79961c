/**
 * Chain anchors: the heads of the log store's hash chains (category, position, hash), written
 * outside the store — into the backup repository at every database backup and by
 * `safetynet logs anchor` — so that cutting the newest entries off the store and rewinding
 * `chain_heads`, or replacing the store with a fresh one, no longer verifies: `logs verify` checks
 * that the store still holds every entry up to the newest anchored position of each chain, with
 * the anchored hash.
 *
 * Format (one JSON object per anchor, key `anchors/<time ms, 15 digits>-<random>.json`, written
 * create-if-absent, never changed):
 *
 *   { "format": "safetynet-log-anchor", "version": 1, "createdAt": "2026-…Z",
 *     "store": "sqlite:/srv/shop/data/logs.sqlite",
 *     "heads": [ { "category": "order", "seq": 1042, "hash": "<64 hex>" }, … ] }
 *
 * Version 2 (stores with per-writer chains, PostgreSQL) adds `writer` to each head (absent: the
 * per-category chains of writer 0) and `writers: { count, hash }`, the newest registration of the
 * writer registry, so that removing the newest writers (and with them their heads) is caught too:
 *
 *   { "format": "safetynet-log-anchor", "version": 2, …, "writers": { "count": 7, "hash": "<64 hex>" },
 *     "heads": [ { "writer": 3, "category": "order", "seq": 1042, "hash": "<64 hex>" }, … ] }
 *
 * Anchors are plain JSON (no personal data: categories, counts and hashes), so checking them
 * needs no decryption key on the shop's machine. Forging one does not help an attacker: every
 * anchor is checked and positions only grow, so an older or lower anchor proves less, never
 * more; what protects the anchors is that the shop's machine can create but need not be able to
 * delete objects in the repository (S3 object lock, or a credential without delete).
 */
import { randomBytes } from 'node:crypto';
import { SafetynetError } from '../errors.js';
import type { ChainState, LogStore, RawEntry } from './store/types.js';

export const ANCHOR_PREFIX = 'anchors/';
const FORMAT = 'safetynet-log-anchor';

export interface ChainAnchor {
  format: typeof FORMAT;
  /** 1: per-category chains only; 2: with writers. */
  version: 1 | 2;
  createdAt: string;
  /** Which store it was taken from (for the reader; not checked). */
  store: string;
  /** `writer` absent: writer 0 (the per-category chains). */
  heads: { writer?: number; category: string; seq: number; hash: string }[];
  /** Version 2: the writer registry's newest registration (count = its id), or null while empty. */
  writers?: { count: number; hash: string } | null;
}

/** What anchors are written to and read from: the backup repository's storage fits it as is. */
export interface AnchorSink {
  put(key: string, body: Uint8Array, options?: { ifAbsent?: boolean }): Promise<void>;
  get(key: string): Promise<Buffer>;
  list(prefix: string): AsyncIterable<{ key: string }>;
}

/** The anchor of `store` now: its chain heads. */
export async function takeAnchor(
  store: Pick<LogStore, 'chainState'>,
  describe: string,
  now: number,
): Promise<ChainAnchor> {
  const state = await store.chainState();
  const heads = state.heads.map((h) => ({
    ...(h.writer ? { writer: h.writer } : {}),
    category: h.category,
    seq: h.seq,
    hash: h.hash,
  }));
  const base = { format: FORMAT, createdAt: new Date(now).toISOString(), store: describe, heads } as const;
  // Version 1 for stores without writers (SQLite), so older readers still read their anchors.
  if (!state.writers) return { ...base, version: 1 };
  const last = state.writers.at(-1);
  return { ...base, version: 2, writers: last ? { count: last.id, hash: last.hash } : null };
}

/** Writes an anchor (create-if-absent under a new key). Returns the key. */
export async function writeAnchor(sink: AnchorSink, anchor: ChainAnchor): Promise<string> {
  const ms = Date.parse(anchor.createdAt);
  const key = `${ANCHOR_PREFIX}${String(ms).padStart(15, '0')}-${randomBytes(4).toString('hex')}.json`;
  await sink.put(key, Buffer.from(JSON.stringify(anchor) + '\n'), { ifAbsent: true });
  return key;
}

/** Parses an anchor object; throws E_ANCHOR_FORMAT naming the key when it is not one. */
export function parseAnchor(key: string, body: Buffer): ChainAnchor {
  const bad = (why: string): never => {
    throw new SafetynetError('E_ANCHOR_FORMAT', `chain anchor ${key} is not readable: ${why}`, {
      hint: 'anchors are written by safetynet only; a damaged one can be removed from the repository',
    });
  };
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('not JSON');
  }
  const a = v as Partial<ChainAnchor>;
  if (a?.format !== FORMAT || (a.version !== 1 && a.version !== 2))
    return bad('not a safetynet log anchor (version 1 or 2)');
  if (typeof a.createdAt !== 'string' || Number.isNaN(Date.parse(a.createdAt))) return bad('no time');
  if (!Array.isArray(a.heads)) return bad('no heads');
  for (const h of a.heads) {
    if (
      typeof h?.category !== 'string' ||
      !Number.isSafeInteger(h.seq) ||
      h.seq < 0 ||
      typeof h.hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(h.hash) ||
      (h.writer !== undefined && (!Number.isSafeInteger(h.writer) || h.writer < 0))
    )
      return bad('a head is malformed');
  }
  const w = a.writers;
  if (
    w !== undefined &&
    w !== null &&
    (!Number.isSafeInteger(w.count) ||
      w.count < 1 ||
      typeof w.hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(w.hash))
  )
    return bad('the writer registry head is malformed');
  return {
    format: FORMAT,
    version: a.version,
    createdAt: a.createdAt,
    store: String(a.store ?? ''),
    heads: a.heads,
    ...(w ? { writers: w } : {}),
  };
}

/** Every anchor in the sink, oldest first (unreadable ones are reported, not skipped silently). */
export async function readAnchors(
  sink: AnchorSink,
): Promise<{ anchors: ChainAnchor[]; unreadable: { key: string; message: string }[] }> {
  const keys: string[] = [];
  for await (const o of sink.list(ANCHOR_PREFIX)) if (o.key.endsWith('.json')) keys.push(o.key);
  // Every anchor is read (one a backup: thousands a year, small), 16 at a time.
  const results: (ChainAnchor | { key: string; message: string })[] = new Array(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) {
      const key = keys[i]!;
      try {
        results[i] = parseAnchor(key, await sink.get(key));
      } catch (err) {
        results[i] = { key, message: err instanceof Error ? err.message : String(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
  const anchors: ChainAnchor[] = [];
  const unreadable: { key: string; message: string }[] = [];
  for (const r of results) {
    if ('format' in r) anchors.push(r);
    else unreadable.push(r);
  }
  return { anchors, unreadable };
}

export interface AnchorCheck {
  ok: boolean;
  /** Anchors checked. */
  anchors: number;
  /** The newest anchor's time, when there is one. */
  newest?: string;
  /** Per category: the highest anchored position the store was checked against. */
  positions: Record<string, number>;
  /** The first problem found. */
  problem?: { category: string; reason: string };
}

/**
 * Checks that `store` holds, for every category, the entry at the highest position any anchor
 * recorded, with the anchored hash — or that retention removed it (a pruned run ending there with
 * that hash, or covering it). Looks entries up in one pass in id order, only for the chains whose
 * head moved on since the anchor. Run it together with `verifyChain` (which proves the chain from
 * there to the head intact).
 */
export async function checkAnchors(
  store: Pick<LogStore, 'chainState' | 'readRaw'>,
  anchors: ChainAnchor[],
): Promise<AnchorCheck> {
  const want = new Map<string, { writer: number; category: string; seq: number; hash: string; at: string }>();
  let registry: { count: number; hash: string; at: string } | undefined;
  for (const a of anchors) {
    for (const h of a.heads) {
      const key = chainKey(h.writer ?? 0, h.category);
      const cur = want.get(key);
      if (!cur || h.seq > cur.seq)
        want.set(key, {
          writer: h.writer ?? 0,
          category: h.category,
          seq: h.seq,
          hash: h.hash,
          at: a.createdAt,
        });
    }
    if (a.writers && (!registry || a.writers.count > registry.count))
      registry = { ...a.writers, at: a.createdAt };
  }
  // Positions per category as before (writer 0), and per "category (writer N)" for writer chains.
  const report: AnchorCheck = {
    ok: true,
    anchors: anchors.length,
    positions: Object.fromEntries(
      [...want.values()].map((w) => [w.writer ? `${w.category} (writer ${w.writer})` : w.category, w.seq]),
    ),
  };
  if (anchors.length > 0)
    report.newest = anchors
      .map((a) => a.createdAt)
      .sort()
      .at(-1)!;
  const fail = (category: string, reason: string): AnchorCheck => ({
    ...report,
    ok: false,
    problem: { category, reason },
  });
  const state = await store.chainState();
  if (registry) {
    const w = state.writers?.find((x) => x.id === registry.count);
    if (!w)
      return fail(
        '',
        `the writer registry ends at writer ${state.writers?.at(-1)?.id ?? 0}, but the anchor of ${registry.at} records writer ${registry.count}: writers were removed, or the store was replaced`,
      );
    if (w.hash !== registry.hash)
      return fail(
        '',
        `writer ${registry.count}'s registration does not match the anchor of ${registry.at}: the registry was rewritten, or the store replaced`,
      );
  }
  const heads = new Map(state.heads.map((h) => [chainKey(h.writer ?? 0, h.category), h]));
  const lookup = new Map<string, number>(); // chain -> seq whose stored hash is needed
  for (const [key, w] of want) {
    if (w.seq === 0) continue;
    const head = heads.get(key);
    const name = chainName(w.writer, w.category);
    if (!head || head.seq < w.seq) {
      return fail(
        w.category,
        `${name} ends at position ${head?.seq ?? 0}, but the anchor of ${w.at} records position ${w.seq}: ` +
          `${w.seq - (head?.seq ?? 0)} or more of its newest entries were removed, or the store was replaced`,
      );
    }
    if (head.seq === w.seq) {
      if (head.hash !== w.hash) return fail(w.category, mismatch(name, w.seq, w.at));
      continue;
    }
    const pruned = prunedAt(state, w.writer, w.category, w.seq);
    if (pruned === 'covered') continue;
    if (pruned !== undefined) {
      if (pruned !== w.hash) return fail(w.category, mismatch(name, w.seq, w.at));
      continue;
    }
    lookup.set(key, w.seq);
  }
  if (lookup.size > 0) {
    const found = await findPositions(store, lookup);
    for (const [key, seq] of lookup) {
      const w = want.get(key)!;
      const name = chainName(w.writer, w.category);
      const hash = found.get(key);
      if (hash === undefined)
        return fail(
          w.category,
          `entry ${seq} of ${name} (anchored ${w.at}) is missing from the store and was not removed by retention`,
        );
      if (hash !== w.hash) return fail(w.category, mismatch(name, seq, w.at));
    }
  }
  return report;
}

function chainKey(writer: number, category: string): string {
  return `${writer}\u0000${category}`;
}

function chainName(writer: number, category: string): string {
  return writer ? `the ${category} chain of writer ${writer}` : `the ${category} chain`;
}

function mismatch(name: string, seq: number, at: string): string {
  return `entry ${seq} of ${name} does not match the anchor of ${at}: the chain was rewritten, or the store replaced`;
}

/** The hash retention recorded for `seq` (a run ending there), 'covered' inside a run, or undefined. */
function prunedAt(
  state: ChainState,
  writer: number,
  category: string,
  seq: number,
): string | 'covered' | undefined {
  for (const p of state.pruned) {
    if ((p.writer ?? 0) !== writer || p.category !== category || seq < p.fromSeq || seq > p.toSeq) continue;
    return p.toSeq === seq ? p.lastHash : 'covered';
  }
  return undefined;
}

/** One pass over the store in id order, collecting the hash at each wanted (chain, seq). */
async function findPositions(
  store: Pick<LogStore, 'readRaw'>,
  lookup: Map<string, number>,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let after = 0;
  for (;;) {
    const page: RawEntry[] = await store.readRaw(after, 5000);
    if (page.length === 0) break;
    for (const e of page) {
      const key = chainKey(e.writer ?? 0, e.category);
      const seq = lookup.get(key);
      if (seq !== undefined && e.seq === seq) found.set(key, e.hash);
    }
    if (found.size === lookup.size) break;
    after = page[page.length - 1]!.id;
  }
  return found;
}
