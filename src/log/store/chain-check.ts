/**
 * Verifying hash chains, independent of the store: fed the chain heads, the runs retention
 * removed, and every entry in id order, it reports the first entry that breaks its category's
 * chain (edited, deleted, reordered, duplicated) or a chain whose newest entries are missing.
 * Every store's verifyChain reads one consistent snapshot and feeds it through this.
 */
import { isoUtc } from '../../util/time.js';
import { GENESIS_HASH, linkHash } from '../chain.js';
import type { ChainBreak, ChainState, VerifyReport } from './types.js';

/** One stored entry as the checker needs it (level as stored: a name, or undefined when invalid). */
export interface CheckRow {
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

export class ChainChecker {
  private readonly heads = new Map<string, { seq: number; hash: string }>();
  private readonly runs = new Map<string, Map<number, { to: number; last: string }>>();
  private readonly state = new Map<string, { seq: number; hash: string; id: number }>();
  private checked = 0;
  private broken: ChainBreak | undefined;

  constructor(chain: Pick<ChainState, 'heads' | 'pruned'>) {
    for (const h of chain.heads) this.heads.set(h.category, { seq: h.seq, hash: h.hash });
    for (const r of chain.pruned) {
      let m = this.runs.get(r.category);
      if (!m) this.runs.set(r.category, (m = new Map()));
      m.set(r.fromSeq, { to: r.toSeq, last: r.lastHash });
    }
  }

  /** True once a break was found (the caller may stop feeding rows). */
  get done(): boolean {
    return this.broken !== undefined;
  }

  /** The hash before `seq` when seq follows a pruned run starting at `from`; undefined when not pruned. */
  private prunedBefore(cat: string, from: number, seq: number): string | undefined {
    // Runs are merged when they touch, but accept adjacent runs too.
    let at = from;
    let last: string | undefined;
    for (let guard = 0; guard < 1_000_000 && at < seq; guard++) {
      const r = this.runs.get(cat)?.get(at);
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
    const st = this.state.get(r.category) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
    const fail = (reason: string): false => {
      this.broken = { id: String(r.id), category: r.category, timestamp: safeIso(r.ts), reason };
      return false;
    };
    if (!r.level) return fail(`entry ${r.id} has an invalid level ${String(r.rawLevel)}`);
    if (r.seq <= st.seq) {
      return fail(
        `entry ${r.id} is out of order in the ${r.category} chain (position ${r.seq} after ${st.seq}): rows were reordered or duplicated`,
      );
    }
    let prev = st.hash;
    if (r.seq !== st.seq + 1) {
      const p = this.prunedBefore(r.category, st.seq + 1, r.seq);
      if (p === undefined) {
        return fail(
          `entries ${st.seq + 1}..${r.seq - 1} of the ${r.category} chain before entry ${r.id} are missing and were not removed by retention`,
        );
      }
      prev = p;
    }
    const h = linkHash(prev, {
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
        `entry ${r.id} (${r.category} #${r.seq}) does not match its hash: it was edited, or moved from another position`,
      );
    }
    this.state.set(r.category, { seq: r.seq, hash: h, id: r.id });
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
    for (const [cat, st] of this.state) {
      if (!this.heads.has(cat)) {
        return {
          id: String(st.id),
          category: cat,
          timestamp: null,
          reason: `the chain head of ${cat} is missing`,
        };
      }
    }
    for (const [cat, head] of this.heads) {
      const st = this.state.get(cat) ?? { seq: 0, hash: GENESIS_HASH, id: 0 };
      const ok =
        (st.seq === head.seq && st.hash === head.hash) ||
        (st.seq < head.seq && this.prunedBefore(cat, st.seq + 1, head.seq + 1) === head.hash);
      if (!ok) {
        return {
          id: null,
          category: cat,
          timestamp: null,
          reason:
            st.seq < head.seq
              ? `the newest ${head.seq - st.seq} entries of the ${cat} chain are missing` +
                (st.id ? ` (last present: entry ${st.id})` : '')
              : `the ${cat} chain ends at position ${st.seq}, but its head records ${head.seq}`,
        };
      }
    }
    return undefined;
  }
}

/** An ISO time, or null for a stored time no Date can show (a damaged row must not crash verify). */
function safeIso(ts: number): string | null {
  try {
    return isoUtc(ts);
  } catch {
    return null;
  }
}
