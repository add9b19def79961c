/**
 * Durability against the way processes really end: SIGKILL (every awaited entry is stored),
 * SIGTERM (nothing is lost), an uncaught exception (logged as critical, flushed), process.exit()
 * and a script that simply ends (all pending entries flushed), and several processes logging into
 * one store at once (one intact chain per category).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { createLogger } from '../../src/log/index.js';
import { OVERFLOW_EXT } from '../../src/log/spool.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

import { startChild } from './child.js';

const start = (dir: string, mode: string, extra: string[] = []) =>
  startChild(path.join(dir, 'logs.sqlite'), path.join(dir, 'spool'), mode, extra);

function messages(dir: string): string[] {
  const store = SqliteLogStore.open(path.join(dir, 'logs.sqlite'));
  try {
    return store.db.prepare('SELECT message FROM logs ORDER BY id').pluck().all() as string[];
  } finally {
    store.closeSync();
  }
}

function verify(dir: string) {
  const store = SqliteLogStore.open(path.join(dir, 'logs.sqlite'));
  try {
    return store.verifySync();
  } finally {
    store.closeSync();
  }
}

describe('crash safety', () => {
  it('SIGKILL: every entry whose promise resolved is in the store', async () => {
    const dir = tempDir();
    const child = start(dir, 'sigkill');
    await child.waitFor((l) => l.filter((x) => x.startsWith('acked')).length >= 150);
    child.proc.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');
    const acked = child.lines
      .filter((l) => l.startsWith('acked'))
      .map((l) => l.split(' ') as [string, string, string]);
    expect(acked.length).toBeGreaterThanOrEqual(150);
    const stored = new Map<string, string>();
    const store = SqliteLogStore.open(path.join(dir, 'logs.sqlite'));
    for (const r of store.db.prepare('SELECT id, message FROM logs').all() as {
      id: number;
      message: string;
    }[]) {
      stored.set(String(r.id), r.message);
    }
    store.closeSync();
    for (const [, id, msg] of acked) expect(stored.get(id), `${id} ${msg}`).toBe(msg);
    // Un-awaited entries logged before an awaited one were in the same or an earlier batch.
    const last = Number(acked.at(-1)![2].slice(1));
    for (let j = 0; j < 20; j++) expect([...stored.values()]).toContain(`u${last}-${j}`);
    expect(verify(dir).ok).toBe(true);
  });

  it('SIGKILL during a burst that overflows to disk: no awaited entry is lost, none is stored twice', async () => {
    const dir = tempDir();
    const child = start(dir, 'burst');
    const overflowAcks = (l: string[]) =>
      l.filter((x) => x.startsWith('acked') && x.includes(OVERFLOW_EXT)).length;
    await child.waitFor((l) => overflowAcks(l) >= 30, 60_000);
    child.proc.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const acked = child.lines.filter((l) => l.startsWith('acked')).map((l) => l.split(' ')[2]!);
    // The next logger on the host replays what the killed process left in its overflow file.
    const spoolDir = path.join(dir, 'spool');
    const log = await createLogger({ storePath: path.join(dir, 'logs.sqlite'), spoolDir, notify: () => {} });
    const deadline = Date.now() + 30_000;
    while (readdirSync(spoolDir).some((f) => f.endsWith(OVERFLOW_EXT)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await log.close();
    const ordinals = messages(dir).map((m) => Number(m.slice(1)));
    // In the order logged, each once, with no gap: what was lost is only a tail never awaited.
    ordinals.forEach((n, i) => expect(n).toBe(i));
    const stored = new Set(messages(dir));
    for (const m of acked) expect(stored.has(m), m).toBe(true);
    expect(verify(dir).ok).toBe(true);
  });

  it('SIGTERM: pending entries are flushed before the process ends by the signal', async () => {
    const dir = tempDir();
    const child = start(dir, 'sigterm');
    await child.waitFor((l) => l.filter((x) => x.startsWith('called')).length >= 30);
    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGTERM');
    const reported = Math.max(
      ...child.lines.filter((l) => l.startsWith('called')).map((l) => Number(l.split(' ')[1])),
    );
    const msgs = messages(dir);
    const ordinals = msgs.filter((m) => /^t\d+$/.test(m)).map((m) => Number(m.slice(1)));
    // Nothing lost: a gap-free run from t0, at least up to the last count reported before the signal.
    expect(ordinals.length).toBeGreaterThanOrEqual(reported);
    ordinals.forEach((n, i) => expect(n).toBe(i));
    expect(msgs).toContain('process received SIGTERM; flushing logs');
    expect(verify(dir).ok).toBe(true);
  });

  it('uncaught exception: logged as error/critical with its stack and flushed, then the process dies as usual', async () => {
    const dir = tempDir();
    const child = start(dir, 'uncaught');
    const exit = await child.exited;
    expect(exit.code).toBe(1);
    expect(child.stderr()).toContain('kaboom');
    const store = SqliteLogStore.open(path.join(dir, 'logs.sqlite'));
    const page = await store.search({ categories: ['error'] });
    const before = await store.search({ text: 'before' }, { limit: 1000 });
    store.closeSync();
    expect(page.entries[0]).toMatchObject({ category: 'error', level: 'critical', message: 'kaboom' });
    expect(page.entries[0]!.error_stack).toMatch(/^Error: kaboom\n {4}at /);
    expect(page.entries[0]!.details).toMatchObject({ origin: 'uncaughtException', err: { code: 'E_TEST' } });
    expect(before.entries.length).toBe(500);
  });

  it('process.exit() and a script that just ends: nothing pending is lost', async () => {
    for (const [mode, prefix] of [
      ['exit', 'e'],
      ['natural', 'n'],
    ] as const) {
      const dir = tempDir();
      const child = start(dir, mode);
      const exit = await child.exited;
      expect(exit.code, child.stderr()).toBe(0);
      const msgs = messages(dir);
      expect(msgs.length, mode).toBe(3000);
      msgs.forEach((m, i) => expect(m).toBe(`${prefix}${i}`));
    }
  });

  it('several processes logging into one store form intact chains', async () => {
    const dir = tempDir();
    const children = [1, 2, 3].map(() => start(dir, 'writer', ['2000']));
    const exits = await Promise.all(children.map((c) => c.exited));
    exits.forEach((e, i) => expect(e.code, children[i]!.stderr()).toBe(0));
    const msgs = messages(dir);
    expect(msgs.length).toBe(6000);
    for (const c of children) {
      const pid = c.proc.pid!;
      const mine = msgs.filter((m) => m.startsWith(`w${pid}-`)).map((m) => Number(m.split('-')[1]));
      expect(mine).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    }
    expect(verify(dir)).toMatchObject({ ok: true, checked: 6000, chains: 2 });
  });
});
