/**
 * The LogStore conformance suite. Every store implementation (SQLite now, PostgreSQL later) runs
 * exactly these tests through a harness that creates a fresh store and knows how to tamper with
 * its rows the way an attacker with database access would.
 *
 *   runLogStoreConformance({ name: 'sqlite', create, reopen, tamper });
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { SafetynetError } from '../../src/errors.js';
import { retentionCutoffs } from '../../src/log/retention.js';
import { SPOOL_FILE_STORED, type AppendRow, type LogStore } from '../../src/log/store/types.js';
import type { LogEntry, LogFilter } from '../../src/log/types.js';

export interface StoreHarness {
  name: string;
  /** A fresh, empty store. */
  create(): Promise<LogStore>;
  /** A second, independent connection to the same store (another process in production). */
  reopen(store: LogStore): Promise<LogStore>;
  /** Raw changes below the API, as someone with write access to the database could make. */
  tamper: {
    setMessage(store: LogStore, id: string, message: string): Promise<void>;
    deleteEntry(store: LogStore, id: string): Promise<void>;
    /** Exchanges the positions (ids) of two entries. */
    swapIds(store: LogStore, a: string, b: string): Promise<void>;
  };
}

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0, 0);

function row(partial: Partial<AppendRow> & { ts: number }): AppendRow {
  return {
    level: 'info',
    category: 'order',
    message: 'order placed',
    details: '{}',
    orderId: null,
    errorStack: null,
    ...partial,
  };
}

async function all(store: LogStore, filter: LogFilter, limit = 1000): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.search(filter, { limit, ...(cursor ? { cursor } : {}) });
    out.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function expectUsage(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy(
    (e: unknown) => e instanceof SafetynetError && e.code === code && e.exitCode === 2,
  );
}

/** A small mixed data set: 3 categories, 4 levels, some orders, spread over 10 days. */
async function seed(store: LogStore): Promise<AppendRow[]> {
  const rows: AppendRow[] = [];
  const cats = ['order', 'payment', 'email'];
  const levels = ['info', 'info', 'warn', 'error', 'critical'] as const;
  for (let i = 0; i < 60; i++) {
    rows.push(
      row({
        ts: T0 + i * 4 * 3_600_000,
        category: cats[i % 3]!,
        level: levels[i % 5]!,
        message: `${cats[i % 3]} event number ${i}${i % 10 === 0 ? ' card declined by gateway' : ''}`,
        orderId: i % 4 === 0 ? String(1000 + (i % 8)) : null,
        details: JSON.stringify({ i }),
      }),
    );
  }
  await store.append(rows);
  return rows;
}

export function runLogStoreConformance(h: StoreHarness): void {
  describe(`LogStore conformance: ${h.name}`, () => {
    it('appends with consecutive ids and returns exactly the spec fields', async () => {
      const store = await h.create();
      const details = JSON.stringify({
        amount: 12.5,
        nested: { ü: 'ß', list: [1, null, 'a\nb'] },
        emoji: '🧾',
      });
      const r1 = await store.append([
        row({ ts: T0, details, orderId: '1042', message: 'line one\r\nforged: line two' }),
        row({
          ts: T0 + 1,
          level: 'critical',
          category: 'error',
          message: 'boom',
          errorStack: 'Error: boom\n    at x (y.js:1:1)',
        }),
      ]);
      expect(r1.count).toBe(2);
      const r2 = await store.append([row({ ts: T0 + 2 })]);
      expect(r2.firstId).toBe(r1.firstId + 2);
      const e = await store.get(String(r1.firstId));
      expect(e).toEqual({
        id: String(r1.firstId),
        timestamp: '2026-11-01T12:00:00.000Z',
        level: 'info',
        category: 'order',
        message: 'line one\r\nforged: line two',
        details: JSON.parse(details),
        order_id: '1042',
        error_stack: null,
      });
      expect(Object.keys(e!).sort()).toEqual([
        'category',
        'details',
        'error_stack',
        'id',
        'level',
        'message',
        'order_id',
        'timestamp',
      ]);
      const e2 = await store.get(String(r1.firstId + 1));
      expect(e2).toMatchObject({
        level: 'critical',
        category: 'error',
        error_stack: 'Error: boom\n    at x (y.js:1:1)',
      });
      expect(await store.get('999999')).toBeUndefined();
      expect(await store.get('not-an-id')).toBeUndefined();
      await store.close();
    });

    it('keeps a raw webhook body byte-for-byte and marks a repeated event id as a duplicate', async () => {
      const store = await h.create();
      const raw = '{"id":"evt_1",  "amount": 1.10,"note":"caf\u00e9 \\u00e9 \\"q\\""}\n';
      const details = (eventId: string) =>
        JSON.stringify({ provider: 'stripe', eventId, rawBody: raw, rawBodyEncoding: 'utf8' });
      const wh = (eventId: string, provider = 'stripe') =>
        row({ ts: T0, category: 'webhook', details: details(eventId), webhook: { provider, eventId } });
      const a = await store.append([wh('evt_1'), wh('evt_1')]);
      const b = await store.append([wh('evt_1'), wh('evt_1', 'paypal'), wh('evt_2')]);
      const first = await store.get(String(a.firstId));
      expect(first!.details.rawBody).toBe(raw);
      expect(first!.details.duplicate).toBeUndefined();
      for (const id of [a.firstId + 1, b.firstId]) {
        const dup = await store.get(String(id));
        expect(dup!.details).toMatchObject({ duplicate: true, duplicateOf: String(a.firstId), rawBody: raw });
      }
      expect((await store.get(String(b.firstId + 1)))!.details.duplicate).toBeUndefined();
      expect((await store.get(String(b.firstId + 2)))!.details.duplicate).toBeUndefined();
      // The raw body is searchable too.
      expect((await store.search({ text: 'café' })).entries.length).toBe(5);
      await store.close();
    });

    it('searches newest first by timestamp, whatever the insertion order', async () => {
      const store = await h.create();
      await store.append([row({ ts: T0 + 5000, message: 'newer' })]);
      await store.append([
        row({ ts: T0 - DAY, message: 'imported old' }),
        row({ ts: T0 + 9000, message: 'newest' }),
      ]);
      const page = await store.search({});
      expect(page.entries.map((e) => e.message)).toEqual(['newest', 'newer', 'imported old']);
      expect(page.nextCursor).toBeUndefined();
      await store.close();
    });

    it('filters by category, level, minimum level, time range, order id and text, alone and combined', async () => {
      const store = await h.create();
      const rows = await seed(store);
      const expectMatch = async (filter: LogFilter, pred: (r: AppendRow) => boolean) => {
        const want = rows
          .filter(pred)
          .map((r) => r.message)
          .reverse();
        const got = (await all(store, filter, 7)).map((e) => e.message);
        expect(got).toEqual(want);
        const { counts, partial } = await store.countByLevel(filter);
        expect(partial).toBe(false);
        for (const level of ['info', 'warn', 'error', 'critical'] as const) {
          expect(counts[level]).toBe(rows.filter((r) => pred(r) && r.level === level).length);
        }
        // A limit above the number of matches changes nothing.
        expect(await store.countByLevel(filter, { limit: 1000 })).toEqual({ counts, partial: false });
      };
      const rank = { info: 0, warn: 1, error: 2, critical: 3 };
      await expectMatch({}, () => true);
      await expectMatch({ categories: ['payment'] }, (r) => r.category === 'payment');
      await expectMatch({ categories: ['payment', 'email'] }, (r) => r.category !== 'order');
      await expectMatch({ categories: ['nothing-here'] }, () => false);
      await expectMatch({ level: 'warn' }, (r) => r.level === 'warn');
      await expectMatch({ level: 'info' }, (r) => r.level === 'info');
      await expectMatch({ minLevel: 'error' }, (r) => rank[r.level] >= 2);
      await expectMatch({ minLevel: 'info' }, () => true);
      const since = T0 + 2 * DAY;
      const until = T0 + 5 * DAY;
      await expectMatch({ since, until }, (r) => r.ts >= since && r.ts < until);
      await expectMatch({ since: T0 + 4 * 3_600_000 }, (r) => r.ts >= T0 + 4 * 3_600_000);
      await expectMatch({ orderId: '1000' }, (r) => r.orderId === '1000');
      await expectMatch({ text: 'declined' }, (r) => r.message.includes('declined'));
      await expectMatch({ text: 'CARD Declined' }, (r) => r.message.includes('card declined'));
      await expectMatch({ text: '"declined by gateway"' }, (r) => r.message.includes('declined by gateway'));
      await expectMatch({ text: '"gateway declined"' }, () => false);
      await expectMatch({ text: 'decl*' }, (r) => r.message.includes('declined'));
      await expectMatch(
        { text: 'number 7' },
        (r) => / number 7$/.test(r.message) || / number 7 /.test(r.message),
      );
      await expectMatch(
        { categories: ['order', 'payment'], minLevel: 'warn', since, until, text: 'event' },
        (r) => r.category !== 'email' && rank[r.level] >= 1 && r.ts >= since && r.ts < until,
      );
      await expectMatch(
        { categories: ['order'], level: 'info', orderId: '1000', text: 'declined' },
        (r) =>
          r.category === 'order' &&
          r.level === 'info' &&
          r.orderId === '1000' &&
          r.message.includes('declined'),
      );
      await store.close();
    });

    it('counts per level with a limit: stops early and says so, every count a lower bound', async () => {
      const store = await h.create();
      const rows = await seed(store);
      const rank = { info: 0, warn: 1, error: 2, critical: 3 };
      const cases: [LogFilter, (r: AppendRow) => boolean][] = [
        [{}, () => true],
        [{ text: 'event' }, () => true],
        [{ text: 'declined' }, (r) => r.message.includes('declined')],
        [
          { categories: ['payment'], since: T0 + DAY + 1234, until: T0 + 7 * DAY - 99 },
          (r) => r.category === 'payment' && r.ts >= T0 + DAY + 1234 && r.ts < T0 + 7 * DAY - 99,
        ],
        [{ minLevel: 'warn', text: 'number' }, (r) => rank[r.level] >= 1],
        [{ orderId: '1000', text: 'event' }, (r) => r.orderId === '1000'],
      ];
      for (const [filter, pred] of cases) {
        const exact = { info: 0, warn: 0, error: 0, critical: 0 };
        for (const r of rows) if (pred(r)) exact[r.level]++;
        expect(await store.countByLevel(filter)).toEqual({ counts: exact, partial: false });
        for (const limit of [1, 5, 20]) {
          const got = await store.countByLevel(filter, { limit });
          for (const level of ['info', 'warn', 'error', 'critical'] as const)
            expect(got.counts[level]).toBeLessThanOrEqual(exact[level]);
          // Not stopped: then exact.
          if (!got.partial) expect(got.counts).toEqual(exact);
        }
      }
      // Every one of the 60 entries matches "event": a limit of 10 must stop the count.
      const stopped = await store.countByLevel({ text: 'event' }, { limit: 10 });
      expect(stopped.partial).toBe(true);
      expect(Object.values(stopped.counts).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(10);
      for (const limit of [0, -1, 2.5]) await expectUsage(store.countByLevel({}, { limit }), 'E_BAD_LIMIT');
      await store.close();
    });

    it('paginates with a keyset cursor: every entry exactly once, newest first, also with equal timestamps', async () => {
      const store = await h.create();
      const rows: AppendRow[] = [];
      // 237 entries on only 20 distinct timestamps, appended in shuffled time order.
      for (let i = 0; i < 237; i++)
        rows.push(row({ ts: T0 + ((i * 7) % 20) * 1000, message: `m${i}`, level: i % 3 ? 'info' : 'warn' }));
      await store.append(rows.slice(0, 100));
      await store.append(rows.slice(100));
      for (const [limit, filter] of [
        [50, {}],
        [1, { level: 'warn' }],
        [13, { since: T0 + 5000 }],
      ] as [number, LogFilter][]) {
        const got = await all(store, filter, limit);
        const ids = got.map((e) => Number(e.id));
        expect(new Set(ids).size).toBe(ids.length);
        const want = (await store.countByLevel(filter)).counts;
        expect(got.length).toBe(Object.values(want).reduce((a, b) => a + b, 0));
        for (let i = 1; i < got.length; i++) {
          const a = got[i - 1]!;
          const b = got[i]!;
          expect(
            a.timestamp > b.timestamp || (a.timestamp === b.timestamp && Number(a.id) > Number(b.id)),
          ).toBe(true);
        }
      }
      // A page exactly filling the result has no next cursor.
      const exact = await store.search({ level: 'warn' }, { limit: 79 });
      expect(exact.entries.length).toBe(79);
      expect(exact.nextCursor).toBeUndefined();
      await store.close();
    });

    it('rejects bad cursors, page sizes, levels and empty text with usage errors', async () => {
      const store = await h.create();
      await expectUsage(store.search({}, { cursor: 'garbage!' }), 'E_BAD_CURSOR');
      await expectUsage(
        store.search({}, { cursor: Buffer.from('x:y').toString('base64url') }),
        'E_BAD_CURSOR',
      );
      await expectUsage(store.search({}, { limit: 0 }), 'E_BAD_LIMIT');
      await expectUsage(store.search({}, { limit: 1001 }), 'E_BAD_LIMIT');
      await expectUsage(store.search({ level: 'loud' as never }), 'E_BAD_LEVEL');
      await expectUsage(store.search({ level: 'warn', minLevel: 'info' }), 'E_BAD_FILTER');
      await expectUsage(store.search({ text: '  "" ** ' }), 'E_BAD_TEXT');
      // FTS syntax in user text is literal, never an error.
      await store.append([row({ ts: T0, message: 'NEAR(a b) AND OR NOT "x" col:val' })]);
      expect((await store.search({ text: 'NEAR(a b) AND OR col:val' })).entries.length).toBe(1);
      await store.close();
    });

    it('refuses rows readers could not show again (impossible time, level, category, details) and stores none of the batch', async () => {
      const store = await h.create();
      for (const bad of [
        row({ ts: 1e17 }),
        row({ ts: -1 }),
        row({ ts: T0 + 0.5 }),
        row({ ts: T0, level: 'loud' as never }),
        row({ ts: T0, category: 'Not A Category' }),
        row({ ts: T0, details: '[1,2]' }),
      ]) {
        await expectUsage(store.append([row({ ts: T0 }), bad]), 'E_LOG_ENTRY');
      }
      expect((await store.search({})).entries).toEqual([]);
      await store.close();
    });

    it('verifies an intact chain and reports the first edited, deleted or reordered entry', async () => {
      for (const attack of ['edit', 'delete', 'swap'] as const) {
        const store = await h.create();
        await seed(store);
        await store.append([row({ ts: T0 + 90 * DAY, message: 'later' })]);
        expect(await store.verifyChain()).toMatchObject({ ok: true, checked: 61, chains: 3 });
        const order = (await all(store, { categories: ['order'] })).reverse();
        const victim = order[5]!;
        if (attack === 'edit') await h.tamper.setMessage(store, victim.id, 'order placed (amount changed)');
        if (attack === 'delete') await h.tamper.deleteEntry(store, victim.id);
        if (attack === 'swap') await h.tamper.swapIds(store, victim.id, order[6]!.id);
        const r = await store.verifyChain();
        expect(r.ok, attack).toBe(false);
        const broken = r.firstBroken!;
        expect(broken.category).toBe('order');
        if (attack === 'edit') {
          expect(broken.id).toBe(victim.id);
          expect(broken.reason).toMatch(/does not match its hash/);
        }
        if (attack === 'delete') {
          expect(broken.id).toBe(order[6]!.id);
          expect(broken.reason).toMatch(/missing/);
        }
        if (attack === 'swap') {
          expect(broken.id).toBe(victim.id);
        }
        await store.close();
      }
    });

    it('detects the newest entries of a chain being deleted', async () => {
      const store = await h.create();
      await seed(store);
      const newest = (await store.search({ categories: ['email'] }, { limit: 1 })).entries[0]!;
      await h.tamper.deleteEntry(store, newest.id);
      const r = await store.verifyChain();
      expect(r.ok).toBe(false);
      expect(r.firstBroken).toMatchObject({ category: 'email', id: null });
      expect(r.firstBroken!.reason).toMatch(/newest 1 entries of the email chain are missing/);
      await store.close();
    });

    it('prunes per category with bounded batches, reports counts, and the chain still verifies', async () => {
      const clock = new ManualClock(T0);
      const store = await h.create();
      // 400 days of entries: one per day per category, plus an imported old entry appended last.
      const rows: AppendRow[] = [];
      for (let d = 0; d < 400; d++) {
        for (const category of ['payment', 'system', 'security']) {
          rows.push(row({ ts: T0 - (399 - d) * DAY, category, message: `${category} day ${d}` }));
        }
      }
      await store.append(rows);
      await store.append([row({ ts: T0 - 200 * DAY, category: 'system', message: 'imported late' })]);
      await store.append([row({ ts: T0, category: 'system', message: 'today' })]);
      const plan = retentionCutoffs({ default: 90, payment: 365, security: 365 }, clock.now());
      const dry = await store.prune({ ...plan, dryRun: true });
      expect(dry.dryRun).toBe(true);
      expect(dry.categories.payment!.deleted).toBe(34);
      expect(dry.categories.system!.deleted).toBe(309 + 1);
      expect(dry.categories.security!.deleted).toBe(34);
      expect((await store.countByLevel({})).counts.info).toBe(1202);

      const report = await store.prune({ ...plan, batchSize: 37, pauseMs: 0 });
      expect(report.categories.payment).toEqual({ cutoff: '2025-11-01T12:00:00.000Z', deleted: 34 });
      expect(report.categories.system!.deleted).toBe(310);
      expect(report.categories.security!.deleted).toBe(34);
      expect(report.total).toBe(378);
      expect(report.batches).toBeGreaterThan(10);
      expect((await store.countByLevel({})).counts.info).toBe(1202 - 378);
      const oldest = (await all(store, { categories: ['system'] })).at(-1)!;
      expect(oldest.timestamp).toBe(new Date(T0 - 90 * DAY).toISOString());
      expect(await store.verifyChain()).toMatchObject({ ok: true });

      // Later: a second prune continues from the recorded chain start; new entries still link.
      clock.advance(30 * DAY);
      await store.append([row({ ts: clock.now(), category: 'payment', message: 'new' })]);
      const again = await store.prune(
        retentionCutoffs({ default: 90, payment: 365, security: 365 }, clock.now()),
      );
      expect(again.categories.payment!.deleted).toBe(30);
      expect(again.categories.system!.deleted).toBe(30);
      expect(await store.verifyChain()).toMatchObject({ ok: true });
      // Deleting an entry that retention did not delete is still caught.
      const victim = (await all(store, { categories: ['payment'] })).at(-3)!;
      await h.tamper.deleteEntry(store, victim.id);
      expect((await store.verifyChain()).ok).toBe(false);
      await store.close();
    });

    it('prunes a whole category and keeps verifying', async () => {
      const store = await h.create();
      await store.append([
        row({ ts: T0 - 200 * DAY, category: 'email' }),
        row({ ts: T0 - 199 * DAY, category: 'email' }),
      ]);
      await store.append([row({ ts: T0, category: 'order' })]);
      const r = await store.prune(retentionCutoffs({ default: 90, order: 365 }, T0));
      expect(r.categories.email!.deleted).toBe(2);
      expect(await store.verifyChain()).toMatchObject({ ok: true });
      await store.append([row({ ts: T0, category: 'email' })]);
      expect(await store.verifyChain()).toMatchObject({ ok: true, checked: 2 });
      expect(await store.categories()).toEqual(['email', 'order']);
      await store.close();
    });

    it('forms one chain per category when two connections append interleaved', async () => {
      const a = await h.create();
      const b = await h.reopen(a);
      for (let i = 0; i < 20; i++) {
        await (i % 2 ? a : b).append([
          row({ ts: T0 + i, category: i % 3 ? 'order' : 'payment', message: `m${i}` }),
        ]);
      }
      await Promise.all([
        a.append(Array.from({ length: 50 }, (_, i) => row({ ts: T0 + 100 + i }))),
        b.append(Array.from({ length: 50 }, (_, i) => row({ ts: T0 + 200 + i }))),
      ]);
      expect(await a.verifyChain()).toMatchObject({ ok: true, checked: 120 });
      expect(await b.verifyChain()).toMatchObject({ ok: true, checked: 120 });
      await b.close();
      await a.close();
    });

    it('records spool replay offsets atomically with the replayed entries', async () => {
      const store = await h.create();
      expect(await store.spoolOffset('spool-a.ndjson')).toBe(0);
      await store.append([row({ ts: T0 })], { spoolMark: { file: 'spool-a.ndjson', from: 0, to: 120 } });
      expect(await store.spoolOffset('spool-a.ndjson')).toBe(120);
      // Someone else already replayed from 0: refused, nothing stored.
      await expect(
        store.append([row({ ts: T0 })], { spoolMark: { file: 'spool-a.ndjson', from: 0, to: 120 } }),
      ).rejects.toThrow();
      expect((await store.countByLevel({})).counts.info).toBe(1);
      await store.forgetSpool('spool-a.ndjson');
      expect(await store.spoolOffset('spool-a.ndjson')).toBe(0);
      await store.close();
    });

    it('records a batch mark with the entries and forgets the previous one in the same transaction', async () => {
      const store = await h.create();
      await store.append([row({ ts: T0, message: 'first' })], { batchMark: { file: 'spool-b1.ndjson' } });
      expect(await store.spoolOffset('spool-b1.ndjson')).toBe(SPOOL_FILE_STORED);
      await store.append([row({ ts: T0 + 1, message: 'second' })], {
        batchMark: { file: 'spool-b2.ndjson', forget: 'spool-b1.ndjson' },
      });
      expect(await store.spoolOffset('spool-b1.ndjson')).toBe(0);
      expect(await store.spoolOffset('spool-b2.ndjson')).toBe(SPOOL_FILE_STORED);
      // A batch refused as a whole records no mark: replaying its spool file stores it.
      await expect(
        store.append([row({ ts: T0 + 2 }), row({ ts: Number.NaN })], {
          batchMark: { file: 'spool-b3.ndjson', forget: 'spool-b2.ndjson' },
        }),
      ).rejects.toThrow();
      expect(await store.spoolOffset('spool-b3.ndjson')).toBe(0);
      expect(await store.spoolOffset('spool-b2.ndjson')).toBe(SPOOL_FILE_STORED);
      expect((await store.countByLevel({})).counts.info).toBe(2);
      await store.close();
    });
  });
}
