/**
 * The logger's writer thread runs below the app's threads (lowerThreadPriority): 5 nice levels
 * for a store whose commits it does itself (SQLite), 10 for one whose server does them
 * (StoreCapabilities.serverCommits: PostgreSQL). Linux only (a thread's nice value is in /proc).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/index.js';
import { freshDatabase } from '../helpers/pg.js';
import { tempDir } from '../helpers/tmp.js';

/** Nice values of this process's threads, relative to the main thread's. */
function threadNices(): number[] {
  const base = getPriority(process.pid);
  const out: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name: state is field 3, nice field 19.
      out.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) - base);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

describe.runIf(process.platform === 'linux')("the writer thread's priority", () => {
  it('is 5 levels below the app with SQLite, which it commits to itself', async () => {
    const dir = tempDir();
    const log = await createLogger({
      storePath: path.join(dir, 'logs.sqlite'),
      spoolDir: path.join(dir, 'spool'),
    });
    await log.category('system').info('one');
    expect(threadNices()).toContain(5);
    expect(threadNices()).not.toContain(10);
    await log.close();
  });

  it('is 10 levels below the app with PostgreSQL, whose server does the commit work', async () => {
    const url = await freshDatabase();
    const log = await createLogger({
      storePath: '',
      store: { type: 'postgres', path: '', connectionString: url },
      spoolDir: path.join(tempDir(), 'spool'),
    });
    await log.category('system').info('one');
    expect(threadNices()).toContain(10);
    await log.close();
  });
});
