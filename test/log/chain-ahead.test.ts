/**
 * Chain links computed ahead on the helper thread (chain-ahead.ts) are the links the store would
 * compute, are used only where the state they assumed holds, and never break a chain: another
 * writer in between, a repeated webhook the store marks, a gap in what the helper saw.
 */
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { AheadComputer, type AheadResult } from '../../src/log/chain-ahead.js';
import { createLogger } from '../../src/log/index.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { encodeRows } from '../../src/log/wire.js';
import { tempDir } from '../helpers/tmp.js';

const CATS = ['order', 'payment', 'webhook', 'inventory'];

function rows(from: number, n: number, webhookEvent?: (i: number) => string | undefined): AppendRow[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const category = CATS[i % CATS.length]!;
    const eventId = category === 'webhook' ? webhookEvent?.(i) : undefined;
    return {
      ts: Date.UTC(2026, 0, 1) + i,
      level: i % 11 === 0 ? 'error' : 'info',
      category,
      message: `entry ${i} ünïcode`,
      details: JSON.stringify({ i, provider: eventId ? 'stripe' : undefined }),
      orderId: i % 5 === 0 ? String(i) : null,
      errorStack: i % 11 === 0 ? `Error: ${i}\n    at x` : null,
      ...(eventId ? { webhook: { provider: 'stripe', eventId } } : {}),
    };
  });
}

function open(): SqliteLogStore {
  return SqliteLogStore.open(path.join(tempDir(), 'logs.sqlite'));
}

function hashes(store: SqliteLogStore): string[] {
  return (store.db.prepare('SELECT hex(hash) FROM logs ORDER BY id').pluck().all() as string[]).map((h) =>
    h.toLowerCase(),
  );
}

/** The helper's results for hand-offs of `batches`, from the state of `store` now. */
function computeAhead(store: SqliteLogStore, batches: AppendRow[][], firstSeq = 1): AheadResult[] {
  const c = new AheadComputer(tempDir());
  // The state as the writer gets it from its last commit (AppendResult.chain).
  const heads = (
    store.db.prepare('SELECT category, seq, hex(hash) AS hash FROM chain_heads').all() as {
      category: string;
      seq: number;
      hash: string;
    }[]
  ).map((h) => ({ ...h, hash: h.hash.toLowerCase() }));
  const nextId = Number(store.db.prepare("SELECT value FROM meta WHERE key = 'next_id'").pluck().get());
  c.apply({ t: 'state', gen: 1, at: firstSeq - 1, nextId, heads });
  batches.forEach((b, k) =>
    c.apply({ t: 'item', item: { seq: firstSeq + k, count: b.length, batch: encodeRows(b) } }),
  );
  const out: AheadResult[] = [];
  c.hashPending((r) => out.push(r));
  return out;
}

describe('chain links computed ahead', () => {
  it('are the links the store computes itself, and the store takes them when the state holds', () => {
    const inline = open();
    const withAhead = open();
    const b1 = rows(0, 300);
    const b2 = rows(300, 200);
    inline.appendSync(b1);
    inline.appendSync(b2);
    const [r1, r2] = computeAhead(withAhead, [b1, b2]);
    expect(withAhead.appendSync(b1, { ahead: r1, reportChain: true }).chain).toMatchObject({
      nextId: 301,
      usedAhead: 300,
    });
    expect(withAhead.appendSync(b2, { ahead: r2, reportChain: true }).chain?.usedAhead).toBe(200);
    expect(hashes(withAhead)).toEqual(hashes(inline));
    expect(withAhead.verifySync()).toMatchObject({ ok: true, checked: 500 });
  });

  it('are not used when another writer appended in between; the chain stays intact', () => {
    const store = open();
    store.appendSync(rows(0, 50));
    const [r] = computeAhead(store, [rows(50, 100)]);
    store.appendSync(rows(1000, 3)); // another process got there first
    const res = store.appendSync(rows(50, 100), { ahead: r, reportChain: true });
    expect(res.chain?.usedAhead).toBe(0);
    expect(store.verifySync()).toMatchObject({ ok: true, checked: 153 });
    // The state reported is what the helper continues from: its next links fit again.
    const [next] = computeAhead(store, [rows(150, 40)]);
    expect(store.appendSync(rows(150, 40), { ahead: next, reportChain: true }).chain?.usedAhead).toBe(40);
    expect(store.verifySync().ok).toBe(true);
  });

  it('give way to the store for a category whose details it changes (a repeated webhook)', () => {
    const inline = open();
    const withAhead = open();
    // Every webhook entry carries event evt_1: all but the first are marked duplicates by the store.
    const b = rows(0, 400, () => 'evt_1');
    inline.appendSync(b);
    const [r] = computeAhead(withAhead, [b]);
    const res = withAhead.appendSync(b, { ahead: r, reportChain: true });
    const webhooks = b.filter((x) => x.category === 'webhook').length;
    // The first webhook entry is stored as hashed ahead; from the first duplicate on, that
    // category's links are the store's own.
    expect(res.chain?.usedAhead).toBe(400 - webhooks + 1);
    expect(hashes(withAhead)).toEqual(hashes(inline));
    expect(withAhead.verifySync()).toMatchObject({ ok: true, checked: 400 });
  });

  it('are ignored when they do not match the rows', () => {
    const store = open();
    const [r] = computeAhead(store, [rows(0, 10)]);
    const tooMany = { ...r!, hashes: r!.hashes + r!.hashes.slice(0, 64) }; // one link more than rows
    expect(store.appendSync(rows(0, 10), { ahead: tooMany, reportChain: true }).chain?.usedAhead).toBe(0);
    const torn = { ...r!, hashes: r!.hashes.slice(0, 100) }; // not whole links
    expect(store.appendSync(rows(10, 10), { ahead: torn, reportChain: true }).chain?.usedAhead).toBe(0);
    const tampered = { ...r!, start: [{ category: 'order', seq: 7, hash: '0'.repeat(64) }] };
    expect(store.appendSync(rows(20, 10), { ahead: tampered, reportChain: true }).chain?.usedAhead).toBe(0);
    expect(store.verifySync()).toMatchObject({ ok: true, checked: 30 });
  });

  it('may cover only the first rows: the store hashes the rest, and the chain is the same', () => {
    const inline = open();
    const withAhead = open();
    const [b1, b2] = [rows(0, 120), rows(120, 80)];
    inline.appendSync([...b1, ...b2]);
    // The helper finished the first hand-off only; the commit holds both.
    const [r1] = computeAhead(withAhead, [b1]);
    const res = withAhead.appendSync([...b1, ...b2], { ahead: r1, reportChain: true });
    expect(res.chain?.usedAhead).toBe(120);
    expect(hashes(withAhead)).toEqual(hashes(inline));
    expect(withAhead.verifySync()).toMatchObject({ ok: true, checked: 200 });
  });
});

describe("the helper thread's work", () => {
  it('stops hashing hand-offs the writer stored itself once the new state arrives', () => {
    const c = new AheadComputer(tempDir());
    c.apply({ t: 'state', gen: 1, at: 0, nextId: 1, heads: [] });
    for (let seq = 1; seq <= 4; seq++)
      c.apply({ t: 'item', item: { seq, count: 10, batch: encodeRows(rows((seq - 1) * 10, 10)) } });
    const out: AheadResult[] = [];
    let polls = 0;
    // After the first hand-off, the writer reports that it stored hand-offs 1-3 (hashing them
    // itself) and sends the state to go on from: only hand-off 4 is hashed next, from there.
    c.hashPending(
      (r) => out.push(r),
      () => {
        if (++polls === 1) c.apply({ t: 'state', gen: 2, at: 3, nextId: 31, heads: [] });
      },
    );
    expect(out.map((r) => [r.seq, r.gen, r.firstId])).toEqual([
      [1, 1, 1],
      [4, 2, 31],
    ]);
  });
});

describe('a burst through the writer thread, with the chain helper', () => {
  it('stores intact chains, repeated webhooks marked, whatever the helper predicted', async () => {
    const dir = tempDir();
    const storePath = path.join(dir, 'logs.sqlite');
    const log = await createLogger({ storePath, spoolDir: path.join(dir, 'spool'), notify: () => {} });
    const calls: Promise<string>[] = [];
    for (let i = 0; i < 40_000; i++) {
      if (i % 97 === 0)
        calls.push(log.webhook({ provider: 'stripe', eventId: `evt_${i % 5}`, rawBody: `{"n":${i}}` }));
      else calls.push(log.category(CATS[i % CATS.length]!).info(`b${i}`, { details: { i } }));
      if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(calls);
    await log.close();
    const store = SqliteLogStore.open(storePath);
    expect(store.verifySync()).toMatchObject({ ok: true, checked: 40_000 });
    const dups = store.db
      .prepare("SELECT count(*) FROM logs WHERE category = 'webhook' AND details LIKE '%\"duplicate\":true%'")
      .pluck()
      .get();
    expect(dups).toBe(Math.ceil(40_000 / 97) - 5);
    store.closeSync();
  });
});
