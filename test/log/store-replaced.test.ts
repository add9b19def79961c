/**
 * Finding 5 of issue 11 (second half) and the fault-campaign scenario "the store file deleted or
 * replaced while logging": entries written after a delete went into the deleted file, lost
 * silently, and a replacement was written past. Now the writer notices before the next append,
 * rescues what the open connection still reaches, reopens the path, and records a `critical`
 * `system` entry.
 */
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { createLogger } from '../../src/log/index.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

async function messages(file: string): Promise<{ messages: string[]; critical: string[]; ok: boolean }> {
  const s = SqliteLogStore.open(file);
  try {
    const all = (await s.search({}, { limit: 1000 })).entries.reverse();
    return {
      messages: all.filter((e) => e.category === 'order').map((e) => e.message),
      critical: all.filter((e) => e.category === 'system' && e.level === 'critical').map((e) => e.message),
      ok: (await s.verifyChain()).ok,
    };
  } finally {
    await s.close();
  }
}

for (const writer of ['thread', 'inline'] as const) {
  describe(`the store file deleted or replaced while logging (${writer} writer)`, () => {
    for (const what of ['with its WAL', 'alone (its WAL left behind)'] as const) {
      it(`deleted ${what}: the content is put back, later entries land in it, a critical system entry says so`, async () => {
        const dir = tempDir();
        const file = path.join(dir, 'logs.sqlite');
        const notices: string[] = [];
        const log = await createLogger({
          storePath: file,
          spoolDir: path.join(dir, 'spool'),
          writer,
          notify: (t) => notices.push(t),
        });
        for (let i = 0; i < 10; i++) await log.order.info(`before ${i}`);
        const gone = what === 'with its WAL' ? [file, `${file}-wal`, `${file}-shm`] : [file];
        for (const f of gone) rmSync(f, { force: true });
        for (let i = 0; i < 10; i++) await log.order.info(`after ${i}`);
        expect((await log.flush()).durable).toBe(true);
        await log.close();
        const got = await messages(file);
        expect(got.messages).toEqual([
          ...Array.from({ length: 10 }, (_, i) => `before ${i}`),
          ...Array.from({ length: 10 }, (_, i) => `after ${i}`),
        ]);
        expect(got.ok).toBe(true);
        expect(got.critical).toEqual([
          expect.stringMatching(
            /log store file .* was deleted while this process was writing to it; its content was rescued/,
          ),
        ]);
        expect(notices.some((n) => /was deleted while/.test(n))).toBe(true);
      });
    }

    it('replaced: the old content is kept beside it, later entries land in the replacement', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'logs.sqlite');
      const log = await createLogger({
        storePath: file,
        spoolDir: path.join(dir, 'spool'),
        writer,
        notify: () => {},
      });
      for (let i = 0; i < 5; i++) await log.order.info(`before ${i}`);
      // Someone puts another store in its place (an old copy, or an attacker's fresh one).
      const other = path.join(dir, 'other.sqlite');
      const o = SqliteLogStore.open(other);
      await o.append([
        {
          ts: Date.now(),
          level: 'info',
          category: 'order',
          message: 'other',
          details: '{}',
          orderId: null,
          errorStack: null,
        },
      ]);
      await o.close();
      copyFileSync(other, `${file}.new`);
      renameSync(`${file}.new`, file);
      for (let i = 0; i < 5; i++) await log.order.info(`after ${i}`);
      await log.close();
      const now = await messages(file);
      expect(now.messages).toEqual(['other', ...Array.from({ length: 5 }, (_, i) => `after ${i}`)]);
      expect(now.critical).toEqual([
        expect.stringMatching(/was replaced while .* previous content was saved as .*displaced/),
      ]);
      const kept = readdirSync(dir).filter((f) => /^logs\.sqlite\.displaced-.*\.sqlite$/.test(f));
      expect(kept.length).toBe(1);
      const old = await messages(path.join(dir, kept[0]!));
      expect(old.messages).toEqual(Array.from({ length: 5 }, (_, i) => `before ${i}`));
      expect(old.ok).toBe(true);
      // Found by an append (whose batch went to the spool and was replayed) or by the writer's
      // idle work before it: either way nothing waits in the spool.
      const spool = path.join(dir, 'spool');
      expect(existsSync(spool) ? readdirSync(spool) : []).toEqual([]);
    });
  });
}
