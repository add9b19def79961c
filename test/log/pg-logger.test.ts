/**
 * The logger and the CLI on the PostgreSQL store, against real servers: SIGKILL of a writer
 * (every awaited entry is there), four writer processes at once, the server stopped and started
 * again mid-stream (entries spooled, replayed in order), connections cut mid-batch, retention
 * while writing, and bad connection strings (exit 2 naming the field).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createLogger } from '../../src/log/index.js';
import { retentionCutoffs } from '../../src/log/retention.js';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import type { AppendRow } from '../../src/log/store/types.js';
import { runCli } from '../helpers/cli.js';
import { LossyProxy } from '../helpers/lossy-proxy.js';
import { TestCluster, freshDatabase } from '../helpers/pg.js';
import { tempDir } from '../helpers/tmp.js';
import { startChild } from './child.js';

const DAY = 86_400_000;

async function rows(url: string): Promise<{ id: number; message: string }[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ id: string; message: string }>(
      'SELECT id, message FROM safetynet_log.logs ORDER BY id',
    );
    return r.rows.map((x) => ({ id: Number(x.id), message: x.message }));
  } finally {
    await c.end();
  }
}

async function verify(url: string) {
  const s = new PostgresLogStore({ connectionString: url });
  try {
    return await s.verifyChain();
  } finally {
    await s.close();
  }
}

function acked(lines: string[]): [string, string][] {
  return lines.filter((l) => l.startsWith('acked ')).map((l) => l.split(' ').slice(1, 3) as [string, string]);
}

describe('logger on PostgreSQL', () => {
  it('SIGKILL: every entry whose promise resolved is in the store, and the chains verify', async () => {
    const url = await freshDatabase();
    const child = startChild(url, path.join(tempDir(), 'spool'), 'sigkill');
    await child.waitFor((l) => acked(l).length >= 150, 60_000);
    child.proc.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const stored = new Map((await rows(url)).map((r) => [String(r.id), r.message]));
    const got = acked(child.lines);
    expect(got.length).toBeGreaterThanOrEqual(150);
    for (const [id, msg] of got) expect(stored.get(id), `${id} ${msg}`).toBe(msg);
    expect((await verify(url)).ok).toBe(true);
  });

  it('four writer processes at once: nothing lost or duplicated, one intact chain per writer and category', async () => {
    const url = await freshDatabase();
    const spool = path.join(tempDir(), 'spool');
    const children = [1, 2, 3, 4].map(() => startChild(url, spool, 'writer', ['3000']));
    const exits = await Promise.all(children.map((c) => c.exited));
    exits.forEach((e, i) => expect(e.code, children[i]!.stderr()).toBe(0));
    const msgs = (await rows(url)).map((r) => r.message);
    expect(msgs.length).toBe(12_000);
    for (const c of children) {
      const mine = msgs.filter((m) => m.startsWith(`w${c.proc.pid}-`)).map((m) => Number(m.split('-')[1]));
      expect(mine).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    }
    // Each process appends as a writer of its own while it runs (no process waits for another's
    // commit); one that ended hands its writer back, so a later one may continue its chains.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const writers = Number(
      (await c.query('SELECT count(DISTINCT writer) AS n FROM safetynet_log.logs')).rows[0].n,
    );
    await c.end();
    expect(writers).toBeGreaterThanOrEqual(1);
    expect(writers).toBeLessThanOrEqual(4);
    expect(await verify(url)).toMatchObject({ ok: true, checked: 12_000, chains: 2 * writers });
  });

  it('server stopped mid-stream: calls settle within the bound, entries spool and replay in order', async () => {
    const cluster = await TestCluster.create();
    const spool = path.join(tempDir(), 'spool');
    const child = startChild(cluster.url, spool, 'paced', ['600']);
    await child.waitFor((l) => acked(l).length >= 100, 60_000);
    cluster.stop('immediate');
    await child.waitFor((l) => acked(l).some(([id]) => id.startsWith('spool:')), 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    cluster.start();
    await child.waitFor((l) => l.includes('done'), 120_000);
    expect((await child.exited).code, child.stderr()).toBe(0);
    const latencies = child.lines.filter((l) => l.startsWith('acked ')).map((l) => Number(l.split(' ')[3]));
    // The bound: connecting and each statement time out (5 s by default); refused connections fail at once.
    expect(Math.max(...latencies)).toBeLessThan(15_000);
    expect(child.stderr()).toMatch(/cannot be written/);
    // Replayed by the child once the server was back (or, on a slow machine where the child ended
    // first, by the next logger on this host).
    if (!/writable again; replayed \d+ spooled entries/.test(child.stderr())) {
      const next = await createLogger({
        storePath: '',
        store: { type: 'postgres', path: '', connectionString: cluster.url },
        spoolDir: spool,
        notify: () => {},
      });
      await next.close();
    }
    const msgs = (await rows(cluster.url)).map((r) => r.message);
    expect(msgs).toEqual(Array.from({ length: 600 }, (_, i) => `p${i}`));
    expect((await verify(cluster.url)).ok).toBe(true);
  });

  it('the answer to COMMIT lost: the batch spools, and replay finds it stored and stores nothing twice', async () => {
    const url = await freshDatabase();
    const proxy = await LossyProxy.start({ host: '127.0.0.1', port: Number(new URL(url).port || 5432) });
    try {
      const viaProxy = new URL(url);
      viaProxy.port = String(proxy.port);
      const spool = path.join(tempDir(), 'spool');
      const notes: string[] = [];
      const log = await createLogger({
        storePath: '',
        store: { type: 'postgres', path: '', connectionString: viaProxy.toString() },
        spoolDir: spool,
        retryMs: 100,
        notify: (t) => notes.push(t),
      });
      expect(await log.order.info('before')).toMatch(/^\d+$/);
      proxy.loseNextCommitReply();
      // Committed by the server, but the logger never heard so: it keeps the entry in its spool.
      expect(await log.payment.info('unsure')).toMatch(/^spool:/);
      expect(proxy.lost).toBe(1);
      expect(await log.order.info('after')).toBeTruthy();
      await log.close();
      expect(notes.join('\n')).toMatch(/writable again/);
      expect((await rows(url)).map((r) => r.message)).toEqual(['before', 'unsure', 'after']);
      expect(readdirSync(spool).filter((f) => f.startsWith('spool-'))).toEqual([]);
      // Only the newest batch's mark may remain while a writer runs; none after it closed.
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const marks = (await c.query('SELECT file FROM safetynet_log.spool_offsets')).rows;
      await c.end();
      expect(marks).toEqual([]);
      expect((await verify(url)).ok).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('connections cut mid-batch: every entry arrives exactly once', async () => {
    const url = await freshDatabase();
    const dbName = new URL(url).pathname.slice(1);
    const spool = path.join(tempDir(), 'spool');
    const child = startChild(url, spool, 'writer', ['20000']);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    let cuts = 0;
    const done = child.exited.then(() => true);
    // Three cuts while the burst is being written (once the child has connected); then the
    // server stays reachable.
    for (
      let i = 0;
      i < 400 &&
      cuts < 3 &&
      !(await Promise.race([done, new Promise((r) => setTimeout(() => r(false), 25))]));
      i++
    ) {
      const r = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'safetynet-log' AND pid <> pg_backend_pid()`,
        [dbName],
      );
      cuts += r.rowCount ?? 0;
    }
    await admin.end();
    expect((await child.exited).code, child.stderr()).toBe(0);
    expect(cuts, child.stderr()).toBeGreaterThan(0);
    // What the child could not hand over before it ended waits in its spool; the next logger on
    // this host replays it.
    const next = await createLogger({
      storePath: '',
      store: { type: 'postgres', path: '', connectionString: url },
      spoolDir: spool,
      notify: () => {},
    });
    await next.close();
    const msgs = (await rows(url)).map((r) => r.message);
    const pid = child.proc.pid!;
    expect(msgs.length, child.stderr()).toBe(20_000);
    const mine = msgs.map((m) => Number(m.slice(`w${pid}-`.length))).sort((a, b) => a - b);
    expect(mine).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
    expect((await verify(url)).ok).toBe(true);
  });

  it('retention while writing: old days go, the writer keeps appending, the chains verify', async () => {
    const url = await freshDatabase();
    const now = Date.UTC(2026, 11, 1, 12);
    const store = new PostgresLogStore({ connectionString: url, now: () => now });
    const old: AppendRow[] = [];
    for (let d = 120; d > 0; d -= 3)
      for (let i = 0; i < 200; i++)
        old.push({
          ts: now - d * DAY + i,
          level: 'info',
          category: i % 4 ? 'email' : 'payment',
          message: `old ${d} ${i}`,
          details: '{}',
          orderId: null,
          errorStack: null,
        });
    await store.append(old);
    const writer = new PostgresLogStore({ connectionString: url });
    let writing = true;
    let written = 0;
    let longest = 0;
    const loop = (async () => {
      while (writing) {
        const t0 = performance.now();
        await writer.append(
          Array.from({ length: 50 }, (_, i) => ({
            ts: now + written + i,
            level: 'info' as const,
            category: 'order',
            message: `new ${written + i}`,
            details: '{}',
            orderId: null,
            errorStack: null,
          })),
        );
        longest = Math.max(longest, performance.now() - t0);
        written += 50;
      }
    })();
    const report = await store.prune({
      ...retentionCutoffs({ default: 90, payment: 365 }, now),
      batchSize: 500,
    });
    writing = false;
    await loop;
    // Days older than 90: email entries go (10 days of 150), payments stay (kept a year).
    const emailOld = old.filter((r) => r.category === 'email' && r.ts < now - 90 * DAY).length;
    expect(report.categories.email!.deleted).toBe(emailOld);
    expect(report.categories.payment!.deleted).toBe(0);
    expect(written).toBeGreaterThan(0);
    expect(await store.verifyChain()).toMatchObject({ ok: true, checked: old.length - emailOld + written });
    await writer.close();
    await store.close();
  });
});

describe('CLI on PostgreSQL', () => {
  function shop(store: object): string {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'data/invoices'), { recursive: true });
    mkdirSync(path.join(dir, 'data/images'), { recursive: true });
    writeFileSync(path.join(dir, 'safetynet.config.json'), JSON.stringify({ logs: { store } }));
    return dir;
  }

  it('writes, searches, counts and verifies through logs.store.type "postgres"', async () => {
    const url = await freshDatabase();
    const dir = shop({ type: 'postgres', connectionString: url });
    const w = await runCli(
      [
        'logs',
        'write',
        '--category',
        'order',
        '--level',
        'warn',
        '--message',
        'card declined',
        '--order',
        '1042',
      ],
      { cwd: dir },
    );
    expect(w.code, w.stderr).toBe(0);
    const s = await runCli(['logs', 'search', '--text', 'declined', '--json'], { cwd: dir });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('card declined');
    const v = await runCli(['logs', 'verify'], { cwd: dir });
    expect(v.code, v.stderr + v.stdout).toBe(0);
  });

  it.each([
    ['mysql://shop@127.0.0.1/shop', /logs\.store\.connectionString has the scheme "mysql:"/],
    ['not a url', /logs\.store\.connectionString is not a URL/],
    ['postgres:///shop', /logs\.store\.connectionString names no host/],
  ])('refuses the connection string %s with exit 2 naming the field', async (cs, pattern) => {
    const dir = shop({ type: 'postgres', connectionString: cs });
    const r = await runCli(['logs', 'search'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('logs copy moves a SQLite store (with pruned runs and webhooks) into PostgreSQL, still verifiable', async () => {
    const dir = shop({ type: 'sqlite', path: 'data/logs.sqlite' });
    const url = await freshDatabase();
    writeFileSync(
      path.join(dir, 'pg.json'),
      JSON.stringify({ logs: { store: { type: 'postgres', connectionString: url } } }),
    );
    const now = Date.now();
    const src = SqliteLogStore.open(path.join(dir, 'data/logs.sqlite'));
    const rowsIn: AppendRow[] = [];
    for (let i = 0; i < 3000; i++)
      rowsIn.push({
        ts: now - (200 - (i % 200)) * DAY,
        level: i % 7 ? 'info' : 'error',
        category: ['order', 'email', 'payment'][i % 3]!,
        message: `entry ${i} ${i % 10 ? 'shipped' : 'refund issued'}`,
        details: JSON.stringify({ i }),
        orderId: i % 5 ? null : String(1000 + i),
        errorStack: null,
      });
    rowsIn.push({
      ts: now,
      level: 'info',
      category: 'webhook',
      message: 'stripe event',
      details: JSON.stringify({
        provider: 'stripe',
        eventId: 'evt_1',
        rawBody: '{"a":1}',
        rawBodyEncoding: 'utf8',
      }),
      orderId: null,
      errorStack: null,
      webhook: { provider: 'stripe', eventId: 'evt_1' },
    });
    await src.append(rowsIn);
    await src.prune({ ...retentionCutoffs({ default: 90, payment: 365 }, now), pauseMs: 0 });
    const want = await src.countByLevel({ text: 'refund' });
    const total = await src.countByLevel({});
    src.closeSync();
    const r = await runCli(['logs', 'copy', '--to', 'pg.json', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verify: { ok: true } });
    const dst = new PostgresLogStore({ connectionString: url });
    expect(await dst.verifyChain()).toMatchObject({
      ok: true,
      checked: total.counts.info + total.counts.error,
    });
    expect(await dst.countByLevel({ text: 'refund' })).toEqual(want);
    // New entries continue the copied chains; a repeated webhook event is still known.
    await dst.append([{ ...rowsIn.at(-1)!, ts: now + 1 }]);
    const dup = (await dst.search({ categories: ['webhook'] }, { limit: 1 })).entries[0]!;
    expect(dup.details).toMatchObject({ duplicate: true });
    expect((await dst.verifyChain()).ok).toBe(true);
    await dst.close();
    const again = await runCli(['logs', 'copy', '--to', 'pg.json'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty/);
  });

  it('logs copy refuses to move PostgreSQL writer chains into a SQLite store (exit 2, before copying)', async () => {
    const url = await freshDatabase();
    const dir = shop({ type: 'postgres', connectionString: url });
    writeFileSync(
      path.join(dir, 'lite.json'),
      JSON.stringify({ logs: { store: { type: 'sqlite', path: 'data/copy.sqlite' } } }),
    );
    const w = await runCli(['logs', 'write', '--category', 'order', '--level', 'info', '--message', 'm'], {
      cwd: dir,
    });
    expect(w.code, w.stderr).toBe(0);
    const r = await runCli(['logs', 'copy', '--to', 'lite.json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot hold the source's 1 writer chains/);
  });

  it('an entry written while the server is unreachable waits in the spool, and status shows it', async () => {
    const dir = shop({ type: 'postgres', connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    const w = await runCli(
      ['logs', 'write', '--category', 'order', '--level', 'info', '--message', 'offline'],
      {
        cwd: dir,
      },
    );
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/^spool:/);
    const s = await runCli(['status', '--json'], { cwd: dir });
    const report = JSON.parse(s.stdout) as { logs: { spoolBytes: number }; warnings: string[] };
    expect(report.logs.spoolBytes).toBeGreaterThan(0);
    expect(report.warnings.join('\n')).toMatch(/bytes of log entries wait in the spool/);
  });

  it('an unreachable server is a clear store error, not a hang', async () => {
    const dir = shop({ type: 'postgres', connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    const t0 = Date.now();
    const r = await runCli(['logs', 'search'], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot .* the log store postgres:\/\/postgres@127\.0\.0\.1:1\/none/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
