/**
 * `safetynet logs …` end to end through the built CLI (run `npm run build` first; `npm test` does).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CommanderError, type Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { SafetynetError } from '../../src/errors.js';
import { DEFAULT_COUNT_LIMIT } from '../../src/log/store/query.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;

/** A shop folder with a config declaring a custom category (and the default file-set folders). */
function shop(): string {
  const dir = tempDir();
  mkdirSync(path.join(dir, 'data/invoices'), { recursive: true });
  mkdirSync(path.join(dir, 'data/images'), { recursive: true });
  writeFileSync(
    path.join(dir, 'safetynet.config.json'),
    JSON.stringify({ logs: { categories: ['refunds'] } }),
  );
  return dir;
}

const cli = (dir: string, args: string[], input?: string) =>
  runCli(['logs', ...args], { cwd: dir, ...(input ? { input } : {}) });

function expectUsageError(r: CliResult, ...patterns: RegExp[]): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2); // the error, and its hint
  expect(lines[0]).toMatch(/^safetynet: /);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  for (const p of patterns) expect(r.stderr).toMatch(p);
}

/**
 * Runs a `logs` command in this process (fast) and returns the error it was rejected with; for
 * the many bad-input cases. A few cases also run through the real binary to check the one-line
 * output and the exit code.
 */
async function rejection(
  dir: string,
  args: string[],
): Promise<{ code: string; message: string; hint: string; exit: number }> {
  const program = await buildProgram();
  const quiet = (c: Command) => {
    c.exitOverride();
    c.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    c.commands.forEach(quiet);
  };
  quiet(program);
  try {
    await program.parseAsync(['logs', ...args, '--config', path.join(dir, 'safetynet.config.json')], {
      from: 'user',
    });
  } catch (err) {
    if (err instanceof SafetynetError)
      return { code: err.code, message: err.message, hint: err.hint ?? '', exit: err.exitCode };
    if (err instanceof CommanderError) return { code: err.code, message: err.message, hint: '', exit: 2 };
    throw err;
  }
  throw new Error(`expected ${args.join(' ')} to be rejected`);
}

function entryLine(i: number, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id: String(1000 + i),
    timestamp: new Date(Date.now() - (i + 1) * DAY).toISOString(),
    level: i % 7 === 0 ? 'error' : 'info',
    category: ['order', 'payment', 'system', 'refunds'][i % 4],
    message: `old entry ${i}`,
    details: { i },
    order_id: i % 5 === 0 ? String(500 + i) : null,
    error_stack: null,
    ...overrides,
  });
}

beforeAll(() => {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url)))
    throw new Error('run `npm run build` first');
});

describe('safetynet logs (CLI)', () => {
  it('writes an entry and finds it again as a table and as JSON lines', async () => {
    const dir = shop();
    const w = await cli(dir, [
      'write',
      '--category',
      'payment',
      '--level',
      'warn',
      '--message',
      'card declined\r\n2026-01-01 INFO forged',
      '--details',
      '{"amount": 12.5, "password": "hunter2"}',
      '--order',
      '1042',
    ]);
    expect(w.code, w.stderr).toBe(0);
    const id = w.stdout.trim();
    expect(id).toMatch(/^\d+$/);
    await cli(dir, ['write', '--category', 'refunds', '--level', 'info', '--message', 'refund sent']);

    const json = await cli(dir, ['search', '--category', 'payment', '--json']);
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const e = JSON.parse(lines[0]!);
    expect(Object.keys(e)).toEqual([
      'id',
      'timestamp',
      'level',
      'category',
      'message',
      'details',
      'order_id',
      'error_stack',
    ]);
    expect(e).toMatchObject({
      id,
      level: 'warn',
      category: 'payment',
      message: 'card declined\r\n2026-01-01 INFO forged',
      details: { amount: 12.5, password: '[REDACTED]' },
      order_id: '1042',
      error_stack: null,
    });
    expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const table = await cli(dir, ['search']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+TIME \(UTC\)\s+LEVEL\s+CATEGORY\s+ORDER\s+MESSAGE/);
    // The CR/LF is shown escaped: the forged line does not start a line of its own.
    expect(table.stdout).toContain('card declined\\r\\n2026-01-01 INFO forged');
    expect(table.stdout.split('\n').some((l) => l.startsWith('2026-01-01 INFO forged'))).toBe(false);
    expect(table.stdout).toMatch(/matching: info 1, warn 1, error 0, critical 0 \(total 2\)/);

    const byOrder = await cli(dir, [
      'search',
      '--order',
      '1042',
      '--min-level',
      'warn',
      '--since',
      '1h',
      '--text',
      'declined',
      '--json',
    ]);
    expect(byOrder.stdout.trim().split('\n').length).toBe(1);
    const none = await cli(dir, ['search', '--level', 'critical', '--json']);
    expect(none.stdout).toBe('');
  });

  it('says "at least" when counting per level stopped, and counts every entry with --exact-counts', async () => {
    const dir = shop();
    const n = DEFAULT_COUNT_LIMIT + 2000;
    const store = SqliteLogStore.open(path.join(dir, 'data/logs.sqlite'), { indexThreadBacklog: Infinity });
    store.appendSync(
      Array.from({ length: n }, (_, i) => ({
        ts: Date.now() - (n - i) * 1000,
        level: i % 10 === 0 ? ('warn' as const) : ('info' as const),
        category: 'order',
        message: `parcel ${i}`,
        details: '{}',
        orderId: null,
        errorStack: null,
      })),
    );
    store.indexTextSync(Number.MAX_SAFE_INTEGER);
    store.closeSync();
    const quick = await cli(dir, ['search', '--text', 'parcel', '--limit', '1']);
    expect(quick.code, quick.stderr).toBe(0);
    expect(quick.stdout).toMatch(
      /matching at least: info \d+, warn \d+, error 0, critical 0 \(total at least \d+; .*--exact-counts/,
    );
    const exact = await cli(dir, ['search', '--text', 'parcel', '--limit', '1', '--exact-counts']);
    expect(exact.stdout).toContain(
      `matching: info ${n - n / 10}, warn ${n / 10}, error 0, critical 0 (total ${n})`,
    );
    // --json: entries on stdout as before, the counts on stderr.
    const counts = (r: CliResult) =>
      JSON.parse(/^counts: (.*)$/m.exec(r.stderr)![1]!) as Record<string, unknown>;
    const json = await cli(dir, ['search', '--text', 'parcel', '--limit', '1', '--json']);
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
    expect(counts(json)).toMatchObject({ error: 0, critical: 0, partial: true });
    const jsonExact = await cli(dir, [
      'search',
      '--text',
      'parcel',
      '--limit',
      '1',
      '--json',
      '--exact-counts',
    ]);
    expect(counts(jsonExact)).toEqual({
      info: n - n / 10,
      warn: n / 10,
      error: 0,
      critical: 0,
      partial: false,
    });
  });

  it('pages with --limit and --cursor', async () => {
    const dir = shop();
    writeFileSync(
      path.join(dir, 'old.ndjson'),
      Array.from({ length: 25 }, (_, i) => entryLine(i)).join('\n') + '\n',
    );
    expect((await cli(dir, ['import', 'old.ndjson'])).code).toBe(0);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await cli(dir, [
        'search',
        '--limit',
        '10',
        '--json',
        ...(cursor ? ['--cursor', cursor] : []),
      ]);
      expect(r.code, r.stderr).toBe(0);
      seen.push(
        ...r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).message as string),
      );
      cursor = /next cursor: (\S+)/.exec(r.stderr)?.[1];
      if (!cursor) break;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `old entry ${i}`));
    const t = await cli(dir, ['search', '--limit', '10']);
    expect(t.stdout).toMatch(/next page: --cursor \S+/);
  });

  it('rejects bad input with one line naming the problem and the allowed values (exit 2)', async () => {
    const dir = shop();
    writeFileSync(path.join(dir, 'bad.ndjson'), entryLine(1) + '\n' + entryLine(2, { level: 'loud' }) + '\n');
    writeFileSync(path.join(dir, 'badcat.ndjson'), entryLine(1, { category: 'marketing' }) + '\n');
    writeFileSync(path.join(dir, 'notjson.ndjson'), entryLine(1) + '\n{oops\n');
    // Through the real binary: one line plus a hint on stderr, exit 2, no stack trace.
    const real: [string[], RegExp[]][] = [
      [
        ['search', '--category', 'order,marketing'],
        [/"marketing" is not a category/, /webhook, payment, order.*refunds/],
      ],
      [
        ['search', '--since', 'last tuesday'],
        [/--since: "last tuesday" is not a time/, /ISO 8601/],
      ],
      [['search', '--colour'], [/unknown option '--colour'/]],
      [
        ['write', '--category', 'order', '--level', 'loud', '--message', 'x'],
        [/--level: "loud" is not a level/, /info, warn, error, critical/],
      ],
      [
        ['import', 'bad.ndjson'],
        [/bad\.ndjson line 2: level "loud" is not a level/, /info, warn, error, critical/],
      ],
    ];
    const results = await Promise.all(real.map(([args]) => cli(dir, args)));
    results.forEach((r, i) => expectUsageError(r, ...real[i]![1]));
    // The rest in-process: same errors, same codes.
    const cases: [string[], RegExp][] = [
      [['search', '--level', 'loud'], /--level: "loud" is not a level.*info, warn, error, critical/],
      [['search', '--min-level', 'debug'], /--min-level.*info, warn, error, critical/],
      [['search', '--level', 'info', '--min-level', 'warn'], /cannot be used together/],
      [['search', '--until', '2026-13-45'], /--until/],
      [['search', '--since', '1h', '--until', '2d'], /is not before --until/],
      [['search', '--limit', '0'], /--limit: "0".*1 to 1000/],
      [['search', '--limit', 'ten'], /--limit/],
      [['search', '--cursor', 'bogus'], /--cursor: "bogus" is not a cursor/],
      [['search', '--text', '"" *'], /--text.*no word/],
      [['search', '--order', '  '], /--order: empty/],
      [
        ['write', '--category', 'order', '--level', 'info', '--message', 'x', '--details', '{bad json'],
        /--details: not valid JSON/,
      ],
      [
        ['write', '--category', 'order', '--level', 'info', '--message', 'x', '--details', '[1,2]'],
        /--details: must be a JSON object/,
      ],
      [['write', '--category', 'nope', '--level', 'info', '--message', 'x'], /"nope" is not a category/],
      [['write', '--level', 'info', '--message', 'x'], /--category/],
      [['export', '--format', 'xml'], /--format: "xml".*ndjson or csv/],
      [['import', path.join(dir, 'missing.ndjson')], /missing\.ndjson is not a readable file/],
      [
        ['import', path.join(dir, 'badcat.ndjson')],
        /line 1: category "marketing" is not a configured category.*refunds/,
      ],
      [['import', path.join(dir, 'notjson.ndjson')], /line 2 is not valid JSON/],
      [['prune', '--days', '3'], /unknown option '--days'/],
    ];
    for (const [args, pattern] of cases) {
      const e = await rejection(dir, args);
      expect(e.exit, args.join(' ')).toBe(2);
      expect(`${e.message} ${e.hint}`, args.join(' ')).toMatch(pattern);
    }
    // A rejected import stored nothing, not even its valid first line (and search creates no store).
    const after = await cli(dir, ['search', '--json']);
    expect(after.code).toBe(2); // a store path that points nowhere is bad input (README)
    expect(after.stdout).toBe('');
    expect(after.stderr).toMatch(/log store .*logs\.sqlite does not exist yet/);
    expect(existsSync(path.join(dir, 'data/logs.sqlite'))).toBe(false);
  });

  it('exports NDJSON and CSV, and imports an export into another store keeping the timestamps', async () => {
    const dir = shop();
    const src = Array.from({ length: 40 }, (_, i) =>
      entryLine(i, i === 3 ? { message: '=HYPERLINK("http://evil")', details: { note: 'a,"b"\nc' } } : {}),
    );
    writeFileSync(path.join(dir, 'old.ndjson'), src.join('\n') + '\n');
    const imp = await cli(dir, ['import', 'old.ndjson']);
    expect(imp.stdout).toMatch(/imported 40 of 40 entries/);

    const nd = await cli(dir, [
      'export',
      '--format',
      'ndjson',
      '--category',
      'order,payment',
      '--out',
      'out/export.ndjson',
    ]);
    expect(nd.code, nd.stderr).toBe(0);
    const exported = readFileSync(path.join(dir, 'out/export.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(exported.length).toBe(20);
    expect(exported.every((e) => e.category === 'order' || e.category === 'payment')).toBe(true);

    const csv = await cli(dir, ['export', '--format', 'csv', '--text', 'HYPERLINK']);
    const rows = csv.stdout.split('\r\n').length > 1 ? csv.stdout.split('\r\n') : csv.stdout.split('\n');
    expect(rows[0]).toBe('id,timestamp,level,category,message,details,order_id,error_stack');
    expect(csv.stdout).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(csv.stdout).toContain('"{""note"":""a,\\""b\\""\\nc""}"');

    const other = shop();
    const reimp = await cli(
      other,
      ['import', '-'],
      readFileSync(path.join(dir, 'out/export.ndjson'), 'utf8'),
    );
    expect(reimp.code, reimp.stderr).toBe(0);
    const back = (await cli(other, ['search', '--json', '--limit', '100'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(back.map((e) => [e.timestamp, e.message, e.order_id])).toEqual(
      exported.map((e) => [e.timestamp, e.message, e.order_id]),
    );
    expect((await cli(other, ['verify'])).code).toBe(0);
  });

  it('prunes by per-category retention and reports the counts; dry run deletes nothing', async () => {
    const dir = shop();
    // 500 days of history: one entry per day for order (365 days kept) and system (90 days kept).
    const lines: string[] = [];
    for (let d = 0; d < 500; d++) {
      for (const category of ['order', 'system']) {
        lines.push(
          JSON.stringify({
            timestamp: new Date(Date.now() - d * DAY - 60_000).toISOString(),
            level: 'info',
            category,
            message: `${category} ${d}`,
          }),
        );
      }
    }
    writeFileSync(path.join(dir, 'history.ndjson'), lines.join('\n'));
    expect((await cli(dir, ['import', 'history.ndjson'])).code).toBe(0);
    const dry = await cli(dir, ['prune', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dryRun: true,
      total: 135 + 410,
      categories: { order: { keepDays: 365, deleted: 135 }, system: { keepDays: 90, deleted: 410 } },
    });
    const real = await cli(dir, ['prune']);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/^order\s+365\s+\S+\s+135$/m);
    expect(real.stdout).toMatch(/^system\s+90\s+\S+\s+410$/m);
    expect(real.stdout).toMatch(/deleted 545 entries in total/);
    const left = await cli(dir, ['search', '--json', '--limit', '1000']);
    const msgs = left.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).message as string);
    expect(msgs.filter((m) => m.startsWith('order ')).length).toBe(365);
    expect(msgs.filter((m) => m.startsWith('system ')).length).toBe(90);
    expect(msgs).toContain('retention deleted 545 log entries'); // the prune itself is audited
    const v = await cli(dir, ['verify']);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toMatch(/^OK: 456 entries in 2 category chains verified/);
  });

  it('verify exits 1 and names the first broken entry after an edit, a delete or a reorder', async () => {
    await Promise.all(
      (['edit', 'delete', 'reorder'] as const).map(async (attack) => {
        const dir = shop();
        const lines = Array.from({ length: 6 }, (_, i) =>
          JSON.stringify({
            timestamp: new Date(Date.now() - 60_000 + i).toISOString(),
            level: 'info',
            category: 'admin',
            message: `admin action ${i}`,
          }),
        );
        writeFileSync(path.join(dir, 'audit.ndjson'), lines.join('\n'));
        expect((await cli(dir, ['import', 'audit.ndjson'])).code).toBe(0);
        expect((await cli(dir, ['verify'])).code).toBe(0);
        const db = new Database(path.join(dir, 'data/logs.sqlite'));
        if (attack === 'edit') db.prepare("UPDATE logs SET message = 'nothing happened' WHERE id = 3").run();
        if (attack === 'delete') db.prepare('DELETE FROM logs WHERE id = 3').run();
        if (attack === 'reorder') {
          db.exec(
            'UPDATE logs SET id = -1 WHERE id = 3; UPDATE logs SET id = 3 WHERE id = 4; UPDATE logs SET id = 4 WHERE id = -1;',
          );
        }
        db.close();
        const [r, j] = await Promise.all([cli(dir, ['verify']), cli(dir, ['verify', '--json'])]);
        expect(r.code, attack).toBe(1);
        expect(r.stdout).toMatch(
          attack === 'delete' ? /^BROKEN: entry 4 \(admin, / : /^BROKEN: entry 3 \(admin, /,
        );
        expect(j.code).toBe(1);
        expect(JSON.parse(j.stdout)).toMatchObject({
          ok: false,
          firstBroken: { id: attack === 'delete' ? '4' : '3', category: 'admin' },
        });
      }),
    );
  });
});
