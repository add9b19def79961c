/**
 * Verifying hash chains, independent of the store: fed the chain heads, the runs retention
 * removed, and every entry in id order, it reports the first entry that breaks its chain
 * (edited, deleted, reordered, duplicated) or a chain whose newest entries are missing.
 * Every store's verifyChain reads one consistent snapshot and feeds it through this.
 *
 * A chain is a category's (writer 0, v1 links) or a (writer, category) pair's (v2 links, see
 * chain.ts). When the store keeps a writer registry, the checker also proves the registry intact
 * (ids 1, 2, … linked by their hashes), every writer's entries and heads registered, and every
 * registered writer holding at least one chain (a writer is registered by its first append, in
 * the same transaction), so a whole writer's entries cannot be removed with its heads unnoticed.
 */
import { isoUtc } from '../../util/time.js';
import { GENESIS_HASH, linkHash, writerHash } from '../chain.js';
import type { ChainBreak, ChainState, VerifyReport } from './types.js';

/** One stored entry as the checker needs it (level as stored: a name, or undefined when invalid). */
export interface CheckRow {
  /** 0 or absent: the category's v1 chain. */
  writer?: number;
  id: number;
  ts: number;
  level: string | undefined;
  /** The raw stored level, for the error message when `level` is undefined. */
  rawLevel: unknown;
  category: string;
  message: string;
  details: string;
  orderId: string | null;
  errorStack: string | null;
  seq: number;
  /** Hex. */
  hash: string;
}

/** The map key of a chain. */
function chainKey(writer: number | undefined, category: string): string {
  return `${writer ?? 0}\u0000${category}`;
}

/** How a chain is named in messages: "the order chain", "the order chain of writer 3". */
function chainName(writer: number | undefined, category: string): string {
  return writer ? `the ${category} chain of writer ${writer}` : `the ${category} chain`;
}

export class ChainChecker {
  private readonly heads = new Map<string, { writer: number; category: string; seq: number; hash: string }>();
  private readonly runs = new Map<string, Map<number, { to: number; last: string }>>();
  private readonly state = new Map<string, { seq: number; hash: string; id: number }>();
  /** Registered writers (ids), when the store keeps a registry; undefined otherwise. */
  private readonly writers: Set<number> | undefined;
  private checked = 0;
  private broken: ChainBreak | undefined;

  constructor(chain: Pick<ChainState, 'heads' | 'pruned' | 'writers'>) {
    for (const h of chain.heads)
      this.heads.set(chainKey(h.writer, h.category), {
        writer: h.writer ?? 0,
        category: h.category,
        seq: h.seq,
        hash: h.hash,
      });
    for (const r of chain.pruned) {
      const key = chainKey(r.writer, r.category);
      let m = this.runs.get(key);
      if (!m) this.runs.set(key, (m = new Map()));
      m.set(r.fromSeq, { to: r.toSeq, last: r.lastHash });
    }
    if (chain.writers) {
      this.writers = new Set(chain.writers.map((w) => w.id));
      this.broken = checkRegistry(chain.writers, [...this.heads.values()]);
    }
  }

  /** True once a break was found (the caller may stop feeding rows). */
  get done(): boolean {
    return this.broken !== undefined;
  }

  /** The hash before `seq` when seq follows a pruned run starting at `from`; undefined when not pruned. */
  private prunedBefore(key: string, from: number, seq: number): string | undefined {
    // Runs are merged when they touch, but accept adjacent runs too.
    let at = from;
    let last: string | undefined;
    for (let guard = 0; guard < 1_000_000 && at < seq; guard++) {
      const r = this.runs.get(key)?.get(at);
      if (!r) return undefined;
      last = r.last;
      at = r.to + 1;
    }
    return at === seq ? last : undefined;
  }

  /** Checks the next entry (in id order). Returns false once the chain is broken. */
  add(r: CheckRow): boolean {
    if (this.broken) return false;
    this.checked++;
    const key = chainKey(r.writer, r.category);
    const name = chainName(r.writer, r.category);
    const st = this.state.get(key) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
    const fail = (reason: string): false => {
      this.broken = { id: String(r.id), category: r.category, timestamp: safeIso(r.ts), reason };
      return false;
    };
    if (!r.level) return fail(`entry ${r.id} has an invalid level ${String(r.rawLevel)}`);
    if (r.writer && this.writers && !this.writers.has(r.writer))
      return fail(`entry ${r.id} belongs to writer ${r.writer}, which is not in the writer registry`);
    if (r.seq <= st.seq) {
      return fail(
        `entry ${r.id} is out of order in ${name} (position ${r.seq} after ${st.seq}): rows were reordered or duplicated`,
      );
    }
    let prev = st.hash;
    if (r.seq !== st.seq + 1) {
      const p = this.prunedBefore(key, st.seq + 1, r.seq);
      if (p === undefined) {
        return fail(
          `entries ${st.seq + 1}..${r.seq - 1} of ${name} before entry ${r.id} are missing and were not removed by retention`,
        );
      }
      prev = p;
    }
    const h = linkHash(prev, {
      ...(r.writer ? { writer: r.writer } : {}),
      id: r.id,
      seq: r.seq,
      ts: r.ts,
      level: r.level,
      category: r.category,
      message: r.message,
      details: r.details,
      orderId: r.orderId,
      errorStack: r.errorStack,
    });
    if (h !== r.hash) {
      return fail(
        `entry ${r.id} (${r.category} #${r.seq}${r.writer ? ` of writer ${r.writer}` : ''}) does not match its hash: it was edited, or moved from another position`,
      );
    }
    this.state.set(key, { seq: r.seq, hash: h, id: r.id });
    return true;
  }

  /** After the last entry: checks every chain's tail against its recorded head. */
  finish(): VerifyReport {
    if (!this.broken) this.broken = this.checkTails();
    const broken = this.broken;
    return {
      ok: !broken,
      checked: this.checked,
      chains: this.heads.size,
      ...(broken ? { firstBroken: broken } : {}),
    };
  }

  private checkTails(): ChainBreak | undefined {
    // The newest entry of each chain must be the recorded head (or pruned up to it).
    for (const [key, st] of this.state) {
      if (!this.heads.has(key)) {
        const [w, cat] = key.split('\u0000') as [string, string];
        return {
          id: String(st.id),
          category: cat,
          timestamp: null,
          reason: `the chain head of ${cat}${w !== '0' ? ` (writer ${w})` : ''} is missing`,
        };
      }
    }
    for (const [key, head] of this.heads) {
      const cat = head.category;
      const st = this.state.get(key) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
      const ok =
        (st.seq === head.seq && st.hash === head.hash) ||
        (st.seq < head.seq && this.prunedBefore(key, st.seq + 1, head.seq + 1) === head.hash);
      if (!ok) {
        const of = head.writer ? ` (writer ${head.writer})` : '';
        return {
          id: null,
          category: cat,
          timestamp: null,
          reason:
            st.seq < head.seq
              ? `the newest ${head.seq - st.seq} entries of the ${cat} chain are missing${of}` +
                (st.id ? ` (last present: entry ${st.id})` : '')
              : `the ${cat} chain${of} ends at position ${st.seq}, but its head records ${head.seq}`,
        };
      }
    }
    return undefined;
  }
}

/**
 * The writer registry: ids 1, 2, … without a gap, each linked to the previous one's hash; every
 * writer that has a chain registered, and every registered writer with at least one chain.
 */
function checkRegistry(
  writers: NonNullable<ChainState['writers']>,
  heads: { writer: number; category: string }[],
): ChainBreak | undefined {
  const fail = (reason: string, category = ''): ChainBreak => ({
    id: null,
    category,
    timestamp: null,
    reason,
  });
  const sorted = [...writers].sort((a, b) => a.id - b.id);
  let prev = GENESIS_HASH;
  for (let i = 0; i < sorted.length; i++) {
    const w = sorted[i]!;
    if (w.id !== i + 1)
      return fail(
        `the writer registry is missing writer ${i + 1} (next registered: ${w.id}): a writer was removed`,
      );
    if (w.prevHash !== prev || writerHash(prev, w) !== w.hash)
      return fail(`writer ${w.id}'s registration does not match its hash: the registry was edited`);
    prev = w.hash;
  }
  const withChains = new Set<number>();
  for (const h of heads) {
    if (h.writer === 0) continue;
    if (h.writer > sorted.length)
      return fail(`the ${h.category} chain of writer ${h.writer} has no registered writer`, h.category);
    withChains.add(h.writer);
  }
  for (const w of sorted) {
    if (!withChains.has(w.id))
      return fail(`writer ${w.id} is registered but none of its chains is left: its entries were removed`);
  }
  return undefined;
}

/** An ISO time, or null for a stored time no Date can show (a damaged row must not crash verify). */
function safeIso(ts: number): string | null {
  try {
    return isoUtc(ts);
  } catch {
    return null;
  }
}
