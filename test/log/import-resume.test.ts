/**
 * Issue 11, finding 11: `logs import` re-run after a crash duplicated rows. An import is now
 * resumable and idempotent: each batch commits with how far the file got, so a re-run continues
 * there, and a complete import stores nothing the second time.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Redactor } from '../../src/log/redact.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { importEntries, importKey } from '../../src/log/transfer.js';
import { CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;

function shop(entries: number): { dir: string; file: string } {
  const dir = tempDir();
  mkdirSync(path.join(dir, 'data/invoices'), { recursive: true });
  mkdirSync(path.join(dir, 'data/images'), { recursive: true });
  writeFileSync(path.join(dir, 'safetynet.config.json'), '{}');
  const t0 = Date.now() - 30 * DAY;
  const lines: string[] = [];
  for (let i = 0; i < entries; i++)
    lines.push(
      JSON.stringify({
        timestamp: new Date(t0 + i).toISOString(),
        level: 'info',
        category: 'order',
        message: `old entry ${i}`,
        details: { i },
      }),
    );
  const file = path.join(dir, 'old.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  return { dir, file };
}

/** Entries in the store and how many distinct messages they have. */
function census(dir: string): { rows: number; distinct: number } {
  const db = new Database(path.join(dir, 'data/logs.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) AS rows, count(DISTINCT message) AS "distinct" FROM logs').get() as {
      rows: number;
      distinct: number;
    };
  } finally {
    db.close();
  }
}

describe('logs import is resumable and idempotent', () => {
  it('a second run of a complete import stores nothing', async () => {
    const { dir } = shop(40);
    const first = await runCli(['logs', 'import', 'old.ndjson'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/imported 40 of 40 entries/);
    const again = await runCli(['logs', 'import', 'old.ndjson'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/imported 0 of 40 entries .*40 were already imported/);
    expect(census(dir)).toEqual({ rows: 40, distinct: 40 });
  });

  it('a run that failed half-way is finished by running it again, every entry once', async () => {
    const { dir, file } = shop(45);
    const store = SqliteLogStore.open(path.join(dir, 'data/logs.sqlite'));
    const ctx = {
      categories: new Set(['order']),
      redactor: new Redactor(),
      maxDetailsBytes: 65536,
      source: 'old',
    };
    const { createReadStream } = await import('node:fs');
    const { createInterface } = await import('node:readline');
    const lines = () => createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let calls = 0;
    const failing = {
      spoolOffset: (k: string) => store.spoolOffset(k),
      append: (...a: Parameters<typeof store.append>) => {
        if (++calls === 3) return Promise.reject(new Error('disk full (injected)'));
        return store.append(...a);
      },
    };
    const key = importKey('f'.repeat(64));
    await expect(importEntries(failing, lines, ctx, key, 10)).rejects.toThrow(/injected/);
    const r = await importEntries(store, lines, ctx, key, 10);
    expect(r).toEqual({ imported: 25, alreadyImported: 20, total: 45 });
    expect(await importEntries(store, lines, ctx, key, 10)).toEqual({
      imported: 0,
      alreadyImported: 45,
      total: 45,
    });
    await store.close();
    expect(census(dir)).toEqual({ rows: 45, distinct: 45 });
  });

  it('survives SIGKILL in the middle of a real import', async () => {
    const total = 120_000;
    const { dir } = shop(total);
    const child = spawn(process.execPath, [CLI, 'logs', 'import', 'old.ndjson'], {
      cwd: dir,
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.once('exit', r));
    // Kill it once some batches are committed and before the last one.
    let atKill = 0;
    for (let i = 0; i < 2000 && atKill === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        const n = census(dir).rows;
        if (n > 0) {
          child.kill('SIGKILL');
          atKill = n;
        }
      } catch {
        // not created yet
      }
    }
    await exited;
    const before = census(dir).rows;
    expect(atKill).toBeGreaterThan(0);
    expect(before).toBeLessThan(total); // it was really cut short
    const again = await runCli(['logs', 'import', 'old.ndjson'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`imported ${total - before} of ${total} entries`));
    expect(census(dir)).toEqual({ rows: total, distinct: total });
  });
});
