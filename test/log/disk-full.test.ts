/**
 * Finding 2 of issue 11: with the store and the spool on one full disk the logger must stay
 * bounded — awaited calls settle within the time limit (with a status, never a rejection), the
 * in-memory queue is capped (drops are counted), flush() and close() return in bounded time and
 * say what they could not keep. Runs on a real, small tmpfs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { createLogger, isDurable } from '../../src/log/index.js';
import type { Logger } from '../../src/log/types.js';
import { mountTmpfs, type Tmpfs } from './tmpfs.js';

const mounts: Tmpfs[] = [];
const loggers: Logger[] = [];
afterEach(async () => {
  while (loggers.length) await loggers.pop()!.close();
  while (mounts.length) mounts.pop()!.unmount();
});

/** Resolves with the value and how long it took, or rejects after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    const value = await Promise.race([p, limit]);
    return { value, ms: Date.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

const DETAILS = { blob: 'x'.repeat(4000) };

for (const writer of ['thread', 'inline'] as const) {
  describe(`a full disk under the store and the spool (${writer} writer)`, () => {
    it('settles awaited calls in bounded time, caps memory, counts drops, closes in bounded time', async () => {
      const fs = mountTmpfs(8 * 1024 * 1024);
      mounts.push(fs);
      const notices: string[] = [];
      // Counted, only the last line kept (keeping 28k lines of 4 KB would be the test's own memory).
      const lastResort = { count: 0, last: '' };
      const log = await createLogger({
        storePath: path.join(fs.dir, 'logs.sqlite'),
        spoolDir: path.join(fs.dir, 'spool'),
        writer,
        retryMs: 50,
        writeTimeoutMs: 400,
        closeTimeoutMs: 1500,
        maxQueueEntries: 2000,
        notify: (t) => notices.push(t),
        lastResort: (line) => {
          lastResort.count++;
          lastResort.last = line;
        },
      });
      loggers.push(log);
      const first = await log.order.info('before the disk filled');
      expect(isDurable(first)).toBe(true);

      fs.fill();
      // Whatever still fits in partly used pages lands; soon nothing does, and then an awaited
      // call must still settle, saying the entry is not durable.
      let status = '';
      for (let i = 0; i < 50 && isDurable(status || '1'); i++) {
        const r = await within(log.order.info('on a full disk', { details: DETAILS }), 3000);
        status = r.value;
      }
      expect(status).toMatch(/^unsaved:/);
      expect(isDurable(status)).toBe(false);

      // 30k unawaited entries: the queue stays capped, the rest is dropped and counted.
      const rssBefore = process.memoryUsage().rss;
      const calls: Promise<string>[] = [];
      for (let i = 0; i < 30_000; i++) calls.push(log.order.info(`entry ${i}`, { details: DETAILS }));
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      if (process.env.SHOW_RSS) console.log(`rss growth ${writer}: ${(rssGrowth / 1048576).toFixed(1)} MiB`);
      const settled = await within(Promise.all(calls), 5000);
      const counts: Record<string, number> = {};
      for (const s of settled.value) {
        const k = isDurable(s) ? 'durable' : s;
        counts[k] = (counts[k] ?? 0) + 1;
      }
      expect(counts['unsaved:dropped']).toBeGreaterThanOrEqual(30_000 - 2000);
      // Unbounded, the 30k entries of 4 KB were held twice (this thread and the writer's): >240 MB.
      expect(rssGrowth).toBeLessThan(100 * 1024 * 1024);
      expect(notices.some((n) => /queue is full/.test(n))).toBe(true);

      const flushed = await within(log.flush(), 3000);
      expect(flushed.value.durable).toBe(false);
      expect(flushed.value.pending).toBeGreaterThan(0);

      const closed = await within(log.close(), 8000); // closeTimeoutMs 1.5 s, plus a loaded machine
      expect(closed.value.durable).toBe(false);
      expect(closed.value.unsaved).toBeGreaterThan(0);
      expect(closed.value.dropped).toBeGreaterThanOrEqual(30_000 - 2000);
      // What could not be kept went to the last resort (stderr by default), one NDJSON line each.
      expect(lastResort.count).toBe(closed.value.unsaved + closed.value.dropped);
      const one = JSON.parse(lastResort.last) as { category: string; reason: string };
      expect(one).toMatchObject({ category: 'order', reason: 'closed' });
    });

    it('after the disk has room again, stores a system entry counting what was dropped', async () => {
      const fs = mountTmpfs(8 * 1024 * 1024);
      mounts.push(fs);
      const log = await createLogger({
        storePath: path.join(fs.dir, 'logs.sqlite'),
        spoolDir: path.join(fs.dir, 'spool'),
        writer,
        retryMs: 50,
        writeTimeoutMs: 300,
        maxQueueEntries: 100,
        notify: () => {},
        lastResort: () => {},
      });
      loggers.push(log);
      await log.order.info('before');
      fs.fill();
      const calls: Promise<string>[] = [];
      for (let i = 0; i < 500; i++) calls.push(log.order.info(`entry ${i}`, { details: DETAILS }));
      const statuses = await within(Promise.all(calls), 5000);
      const dropped = statuses.value.filter((s) => s === 'unsaved:dropped').length;
      expect(dropped).toBeGreaterThanOrEqual(400);
      fs.unfill();
      // The writer retries with a growing delay (50 ms doubling): give it time to come back.
      const flushed = await within(log.flush({ timeoutMs: 20_000 }), 25_000);
      expect(flushed.value.durable).toBe(true);
      // The writer now has room: the queued entries land, then the drop notice.
      let notice;
      for (let i = 0; i < 100 && !notice; i++) {
        await log.flush();
        notice = (await log.store.search({ categories: ['system'] })).entries.find((e) =>
          /dropped/.test(e.message),
        );
        if (!notice) await new Promise((r) => setTimeout(r, 50));
      }
      expect(notice).toBeDefined();
      expect(notice!.level).toBe('error');
      expect(notice!.details).toMatchObject({ dropped });
    });
  });
}
