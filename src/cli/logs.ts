/**
 * `safetynet logs …`: write, search, export, import, prune, verify, copy, anchor.
 *
 * Every flag value is checked before anything is opened; a bad one is a UsageError (exit 2) that
 * names the flag, the value and what is allowed. Search output is a readable table, or with
 * `--json` one entry per line with exactly the spec's fields plus `id`.
 */
import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { ExitCode, SafetynetError, UsageError } from '../errors.js';
import { loadConfig, type SafetynetConfig } from '../config/index.js';
import { parseInstant, isoUtc } from '../util/time.js';
import { tempSibling, fsyncDir } from '../util/fs.js';
import { Redactor } from '../log/redact.js';
import { retentionCutoffs } from '../log/retention.js';
import { openLogStore } from '../log/store/open.js';
import type { LevelCounts, LogStore } from '../log/store/types.js';
import { DEFAULT_COUNT_LIMIT, decodeCursor, parseTextQuery, MAX_PAGE_SIZE } from '../log/store/query.js';
import { escapeControl } from '../log/text.js';
import { CSV_HEADER, csvLine, importEntries, importKey, importRow, ndjsonLine } from '../log/transfer.js';
import { LEVELS, isLevel, type Level, type LogEntry, type LogFilter } from '../log/types.js';
import { action, type CommandContext } from './context.js';
import { verifyAnchors, writeAnchorCommand } from './logs-anchor.js';

interface FilterFlags {
  category?: string;
  level?: string;
  minLevel?: string;
  since?: string;
  until?: string;
  order?: string;
  text?: string;
}

/** Registers `logs` and its subcommands. */
export function register(program: Command): void {
  const logs = program
    .command('logs')
    .description('write, search, export, import, prune and verify log entries');

  logs
    .command('write')
    .description('write one entry (prints its id)')
    .requiredOption('--category <category>', 'category, e.g. order, payment, admin')
    .requiredOption('--level <level>', `level: ${LEVELS.join(', ')}`)
    .requiredOption('--message <text>', 'the message')
    .option('--details <json>', 'details as a JSON object, e.g. \'{"amount": 12.5}\'')
    .option('--order <id>', 'order id')
    .option('--json', 'print {"id": …} instead of the bare id')
    .action(action(writeCommand));

  filterOptions(
    logs
      .command('search')
      .description('search entries, newest first')
      .option('--limit <n>', `entries per page (1-${MAX_PAGE_SIZE}, default 50)`)
      .option('--cursor <cursor>', 'continue after the previous page (its "next cursor")')
      .option(
        '--exact-counts',
        `count every matching entry per level (by default counting stops after ${DEFAULT_COUNT_LIMIT.toLocaleString('en-US')} and says "at least"; exact counts of a common word on millions of entries take seconds)`,
      )
      .option(
        '--json',
        'one entry per line as JSON (spec fields plus id); the next cursor and the per-level counts go to stderr',
      ),
  ).action(action(searchCommand));

  filterOptions(
    logs
      .command('export')
      .description('export every entry matching the filters')
      .requiredOption('--format <format>', 'ndjson or csv')
      .option('--out <file>', 'write to this file instead of stdout'),
  ).action(action(exportCommand));

  logs
    .command('import')
    .description('import NDJSON entries (keeps their timestamps), e.g. to migrate old logs')
    .argument('<file>', 'NDJSON file, or - for stdin')
    .option('--json', 'print the result as JSON')
    .action(action(importCommand));

  logs
    .command('prune')
    .description("delete entries older than their category's retention (logs.retention)")
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .option('--compact', 'also drop deleted entries from the text index (slow: run at a quiet time)')
    .option('--json', 'print the result as JSON')
    .action(action(pruneCommand));

  logs
    .command('verify')
    .description(
      'check the hash chains, and that the store still holds every entry up to the anchors in the backup repository: OK or the first break (exit 1)',
    )
    .option('--no-anchors', 'check the chains only, not against the anchors in the backup repository')
    .option('--json', 'print the result as JSON')
    .action(action(verifyCommand));

  logs
    .command('copy')
    .description(
      'copy every entry, with its hash chain, into the log store of another config (e.g. SQLite to PostgreSQL)',
    )
    .requiredOption('--to <config>', 'the config file whose logs.store receives the entries (must be empty)')
    .option('--json', 'print the result as JSON')
    .action(action(copyCommand));

  logs
    .command('anchor')
    .description(
      'write the heads of the hash chains into the backup repository now (every database backup does)',
    )
    .option('--json', 'print the result as JSON')
    .action(action((ctx: CommandContext) => writeAnchorCommand(ctx, openStore(ctx))));
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--category <list>', 'one or more categories, comma-separated')
    .option('--level <level>', `exactly this level: ${LEVELS.join(', ')}`)
    .option('--min-level <level>', 'this level or more severe')
    .option('--since <time>', 'from this time: ISO 8601 (2026-11-26T14:00Z) or an age (7d, 12h, 30m)')
    .option('--until <time>', 'before this time: ISO 8601 or an age')
    .option('--order <id>', 'entries of this order')
    .option('--text <query>', 'words in the message (all must match; "quoted phrase", prefix*)');
}

// ------------------------------------------------------------------ flag parsing

function categoriesOf(config: SafetynetConfig): string[] {
  return config.logs.categories;
}

function checkCategory(name: string, config: SafetynetConfig, flag: string): string {
  const allowed = categoriesOf(config);
  if (!allowed.includes(name)) {
    throw new UsageError('E_BAD_CATEGORY', `${flag}: "${name}" is not a category`, {
      hint: `use one of: ${allowed.join(', ')} (declare custom ones in logs.categories)`,
    });
  }
  return name;
}

function checkLevel(value: string, flag: string): Level {
  if (!isLevel(value)) {
    throw new UsageError('E_BAD_LEVEL', `${flag}: "${value}" is not a level`, {
      hint: `use one of: ${LEVELS.join(', ')}`,
    });
  }
  return value;
}

/** The filter the flags describe (all checked). */
function filterFrom(flags: FilterFlags, config: SafetynetConfig, now: number): LogFilter {
  const f: LogFilter = {};
  if (flags.category !== undefined) {
    const names = flags.category
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (names.length === 0) {
      throw new UsageError('E_BAD_CATEGORY', '--category: no category given', {
        hint: `use one or more of: ${categoriesOf(config).join(', ')}`,
      });
    }
    f.categories = [...new Set(names.map((n) => checkCategory(n, config, '--category')))];
  }
  if (flags.level !== undefined && flags.minLevel !== undefined) {
    throw new UsageError('E_BAD_FLAGS', '--level and --min-level cannot be used together', {
      hint: '--level L shows exactly L; --min-level L shows L and more severe',
    });
  }
  if (flags.level !== undefined) f.level = checkLevel(flags.level, '--level');
  if (flags.minLevel !== undefined) f.minLevel = checkLevel(flags.minLevel, '--min-level');
  if (flags.since !== undefined) f.since = parseInstant(flags.since, '--since', now);
  if (flags.until !== undefined) f.until = parseInstant(flags.until, '--until', now);
  if (f.since !== undefined && f.until !== undefined && f.since >= f.until) {
    throw new UsageError(
      'E_BAD_TIME',
      `--since (${isoUtc(f.since)}) is not before --until (${isoUtc(f.until)})`,
      {
        hint: 'swap the two times, or drop one of them',
      },
    );
  }
  if (flags.order !== undefined) {
    if (!flags.order.trim())
      throw new UsageError('E_BAD_ORDER', '--order: empty order id', {
        hint: 'give the order id, e.g. --order 1042',
      });
    f.orderId = flags.order.trim();
  }
  if (flags.text !== undefined) {
    parseTextQuery(flags.text); // throws a UsageError for a query with no words
    f.text = flags.text;
  }
  return f;
}

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_PAGE_SIZE) {
    throw new UsageError('E_BAD_LIMIT', `--limit: "${value}" is not a page size`, {
      hint: `use a whole number from 1 to ${MAX_PAGE_SIZE}; use --cursor for the next page`,
    });
  }
  return n;
}

function parseDetails(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch (err) {
    throw new UsageError('E_BAD_JSON', `--details: not valid JSON (${(err as Error).message})`, {
      hint: 'give a JSON object in single quotes, e.g. --details \'{"amount": 12.5, "currency": "EUR"}\'',
    });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError('E_BAD_JSON', '--details: must be a JSON object', {
      hint: 'wrap values in an object, e.g. --details \'{"value": 3}\'',
    });
  }
  return v as Record<string, unknown>;
}

/**
 * Opens the configured store. Reading commands never create one: a store that does not exist yet
 * is reported instead of being created as a side effect of a search in the wrong folder.
 */
function openStore(ctx: CommandContext, create = false): LogStore {
  const cfg = ctx.config.logs.store;
  if (!create && cfg.type === 'sqlite' && !existsSync(cfg.path)) {
    throw new SafetynetError('E_LOG_STORE_MISSING', `the log store ${cfg.path} does not exist yet`, {
      hint: 'check logs.store.path (and --config), or write an entry first: nothing has been logged there',
      exitCode: ExitCode.usage, // a path that points nowhere: bad input (README's exit-code table)
    });
  }
  const store = openLogStore(cfg);
  ctx.defer(() => store.close());
  return store;
}

// ------------------------------------------------------------------ commands

async function writeCommand(
  ctx: CommandContext,
  opts: { category: string; level: string; message: string; details?: string; order?: string },
): Promise<void> {
  const category = checkCategory(opts.category, ctx.config, '--category');
  const level = checkLevel(opts.level, '--level');
  const details = parseDetails(opts.details);
  if (opts.order !== undefined && !opts.order.trim()) {
    throw new UsageError('E_BAD_ORDER', '--order: empty order id', {
      hint: 'give the order id, e.g. --order 1042',
    });
  }
  const log = await ctx.logger();
  const id = await log.category(category)[level](opts.message, { details, orderId: opts.order?.trim() });
  if (ctx.json) ctx.printJson({ id });
  else ctx.print(id);
}

async function searchCommand(
  ctx: CommandContext,
  opts: FilterFlags & { limit?: string; cursor?: string; exactCounts?: boolean },
): Promise<void> {
  const filter = filterFrom(opts, ctx.config, Date.now());
  const limit = parseLimit(opts.limit);
  if (opts.cursor !== undefined) decodeCursor(opts.cursor); // a bad cursor is a usage error, store or not
  const store = openStore(ctx);
  const page = await store.search(filter, {
    ...(limit ? { limit } : {}),
    ...(opts.cursor ? { cursor: opts.cursor } : {}),
  });
  const counted = await store.countByLevel(filter, opts.exactCounts ? {} : { limit: DEFAULT_COUNT_LIMIT });
  if (ctx.json) {
    for (const e of page.entries) ctx.print(ndjsonLine(e));
    if (page.nextCursor) ctx.note(`next cursor: ${page.nextCursor}`);
    ctx.note(`counts: ${JSON.stringify({ ...counted.counts, partial: counted.partial })}`);
    return;
  }
  printTable(ctx, page.entries);
  ctx.print('');
  ctx.print(`${page.entries.length} shown; ${countsLine(counted)}`);
  if (page.nextCursor) ctx.print(`next page: --cursor ${page.nextCursor}`);
}

/**
 * "matching: info 3, warn 1, error 0, critical 0 (total 4)"; when counting stopped at the limit,
 * "matching at least: …" and how to get exact counts.
 */
export function countsLine({ counts, partial }: LevelCounts): string {
  const total = LEVELS.reduce((s, l) => s + counts[l], 0);
  const list = LEVELS.map((l) => `${l} ${counts[l]}`).join(', ');
  return partial
    ? `matching at least: ${list} (total at least ${total}; counting stopped there, --exact-counts counts all)`
    : `matching: ${list} (total ${total})`;
}

function printTable(ctx: CommandContext, entries: LogEntry[]): void {
  if (entries.length === 0) {
    ctx.print('no entries match');
    return;
  }
  const rows = entries.map((e) => [
    e.id,
    e.timestamp,
    e.level,
    e.category,
    e.order_id ?? '',
    escapeControl(e.problems ? `[flagged: ${e.problems.join('; ')}] ${e.message}` : e.message),
  ]);
  const header = ['ID', 'TIME (UTC)', 'LEVEL', 'CATEGORY', 'ORDER', 'MESSAGE'];
  const widths = header.map((h, i) => (i === 5 ? 0 : Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const fixed = widths.slice(0, 5).reduce((a, b) => a + b + 2, 0);
  const columns = process.stdout.isTTY ? process.stdout.columns : 0;
  const room = columns > fixed + 20 ? columns - fixed : Infinity;
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 5 ? (c.length > room ? c.slice(0, room - 1) + '…' : c) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  ctx.print(line(header));
  for (const r of rows) ctx.print(line(r));
}

async function exportCommand(
  ctx: CommandContext,
  opts: FilterFlags & { format: string; out?: string },
): Promise<void> {
  if (opts.format !== 'ndjson' && opts.format !== 'csv') {
    throw new UsageError('E_BAD_FORMAT', `--format: "${opts.format}" is not an export format`, {
      hint: 'use ndjson or csv',
    });
  }
  const filter = filterFrom(opts, ctx.config, Date.now());
  const store = openStore(ctx);
  const format = opts.format;
  const outFile = opts.out ? path.resolve(opts.out) : undefined;
  // A file is written under a temporary name and renamed when complete: never a half export.
  const tmp = outFile ? tempSibling(outFile) : undefined;
  if (outFile) await fsp.mkdir(path.dirname(outFile), { recursive: true });
  const out = tmp ? createWriteStream(tmp, { flags: 'wx' }) : process.stdout;
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  let count = 0;
  try {
    if (format === 'csv') await write(CSV_HEADER + '\n');
    let cursor: string | undefined;
    do {
      const page = await store.search(filter, { limit: MAX_PAGE_SIZE, ...(cursor ? { cursor } : {}) });
      let chunk = '';
      for (const e of page.entries) chunk += (format === 'csv' ? csvLine(e) : ndjsonLine(e)) + '\n';
      if (chunk) await write(chunk);
      count += page.entries.length;
      cursor = page.nextCursor;
    } while (cursor);
    if (tmp && outFile) {
      const ws = out as ReturnType<typeof createWriteStream>;
      await new Promise<void>((resolve, reject) =>
        ws.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
      const fh = await fsp.open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await fsp.rename(tmp, outFile);
      await fsyncDir(path.dirname(outFile));
      ctx.note(`exported ${count} entries to ${outFile}`);
    }
  } catch (err) {
    if (tmp) await fsp.rm(tmp, { force: true });
    throw err;
  }
}

async function importCommand(ctx: CommandContext, file: string): Promise<void> {
  const config = ctx.config;
  const source = file === '-' ? 'stdin' : file;
  const icx = {
    categories: new Set(config.logs.categories),
    redactor: new Redactor(config.logs.redactKeys),
    maxDetailsBytes: config.logs.maxDetailsBytes,
    source,
  };
  // Stdin can be read once only: keep it; a file is read twice (check everything, then import).
  let text: string | undefined;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) throw new Error('not a file');
    } catch {
      throw new UsageError('E_IMPORT_FILE', `${file} is not a readable file`, {
        hint: 'give the path of an NDJSON file, or - for stdin',
      });
    }
  }
  const lines = async function* (): AsyncGenerator<string> {
    if (text !== undefined) {
      yield* text.split('\n');
      return;
    }
    const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const l of rl) yield l;
  };
  // Pass 1: every line must be valid before anything is stored (no half-imported file to clean up).
  let n = 0;
  const hash = createHash('sha256');
  for await (const l of lines()) {
    importRow(l, ++n, icx);
    hash.update(l).update('\n');
  }
  // Pass 2, resumable: a run cut short is finished by running it again; a repeat stores nothing.
  const store = openStore(ctx, true);
  const r = await importEntries(store, lines, icx, importKey(hash.digest('hex')));
  if (ctx.json) ctx.printJson({ imported: r.imported, alreadyImported: r.alreadyImported, source });
  else
    ctx.print(
      `imported ${r.imported} of ${r.total} entries from ${source}` +
        (r.alreadyImported > 0 ? ` (${r.alreadyImported} were already imported by an earlier run)` : ''),
    );
}

async function pruneCommand(
  ctx: CommandContext,
  opts: { dryRun?: boolean; compact?: boolean },
): Promise<void> {
  const config = ctx.config;
  const now = Date.now();
  const plan = retentionCutoffs(config.logs.retention, now);
  const store = openStore(ctx);
  const report = await store.prune({
    cutoffs: plan.cutoffs,
    defaultCutoff: plan.defaultCutoff,
    dryRun: Boolean(opts.dryRun),
    compactTextIndex: Boolean(opts.compact),
  });
  const rows = Object.entries(report.categories).map(([category, r]) => ({
    category,
    days: plan.days[category] ?? plan.days.default!,
    cutoff: r.cutoff,
    deleted: r.deleted,
  }));
  if (!opts.dryRun && report.total > 0) {
    // Deleting audit data is itself worth an audit entry.
    const log = await ctx.logger();
    await log.system.info(`retention deleted ${report.total} log entries`, {
      details: Object.fromEntries(rows.map((r) => [r.category, { deleted: r.deleted, keepDays: r.days }])),
    });
  }
  if (ctx.json) {
    ctx.printJson({
      dryRun: report.dryRun,
      total: report.total,
      categories: Object.fromEntries(
        rows.map((r) => [r.category, { keepDays: r.days, cutoff: r.cutoff, deleted: r.deleted }]),
      ),
    });
    return;
  }
  const verb = opts.dryRun ? 'would delete' : 'deleted';
  if (rows.length === 0) {
    ctx.print('the log store is empty; nothing to prune');
    return;
  }
  const w = Math.max(8, ...rows.map((r) => r.category.length));
  ctx.print(`${'CATEGORY'.padEnd(w)}  KEEP DAYS  OLDER THAN                ${verb.toUpperCase()}`);
  for (const r of rows)
    ctx.print(
      `${r.category.padEnd(w)}  ${String(r.days).padStart(9)}  ${r.cutoff}  ${String(r.deleted).padStart(8)}`,
    );
  ctx.print(`${opts.dryRun ? 'would delete' : 'deleted'} ${report.total} entries in total`);
}

const COPY_PAGE = 5000;

/**
 * Copies the store into the store of another configuration: entries exactly as stored (ids, chain
 * positions and hashes), then the chain heads, the runs retention removed and the webhook event
 * ids, so the copy verifies as the original did. The target must be empty; the source must not
 * change meanwhile (stop the writers, copy, then switch logs.store).
 */
async function copyCommand(ctx: CommandContext, opts: { to: string }): Promise<void> {
  const targetConfig = loadConfig({ configPath: opts.to });
  const from = ctx.config.logs.store;
  const to = targetConfig.logs.store;
  if (
    from.type === to.type &&
    (from.type === 'sqlite' ? from.path === to.path : from.connectionString === to.connectionString)
  ) {
    throw new UsageError('E_LOG_COPY_SAME', `--to: ${opts.to} names the same log store as the source`, {
      hint: 'point --to at a config whose logs.store is the new (empty) store',
    });
  }
  const source = openStore(ctx);
  const target = openLogStore(to);
  ctx.defer(() => target.close());
  if ((await target.readRaw(0, 1)).length > 0 || (await target.categories()).length > 0) {
    throw new SafetynetError('E_LOG_COPY_TARGET', `the log store of ${opts.to} is not empty`, {
      hint: 'copy into a new, empty store (a new database, or a new logs.store.path)',
      exitCode: ExitCode.failure,
    });
  }
  const before = await source.chainState();
  if (before.writers?.length && !target.capabilities.writerChains) {
    throw new UsageError(
      'E_LOG_COPY_UNSUPPORTED',
      `--to: the log store of ${opts.to} (${to.type}) keeps one chain per category and cannot hold the source's ${before.writers.length} writer chains`,
      { hint: 'copy a PostgreSQL log store into another PostgreSQL store' },
    );
  }
  let after = 0;
  let copied = 0;
  for (;;) {
    const rows = await source.readRaw(after, COPY_PAGE);
    if (rows.length === 0) break;
    await target.writeRaw(rows);
    copied += rows.length;
    after = rows[rows.length - 1]!.id;
    if (copied % 100_000 < rows.length) ctx.note(`copied ${copied} entries`);
  }
  const state = await source.chainState();
  if (JSON.stringify(state.heads) !== JSON.stringify(before.heads)) {
    throw new SafetynetError('E_LOG_COPY_MOVED', 'the source log store was written to during the copy', {
      hint: 'stop the processes that log, empty the target store and run logs copy again',
      exitCode: ExitCode.failure,
    });
  }
  await target.writeRaw([], state);
  const verified = await target.verifyChain();
  if (!verified.ok) ctx.exitCode = 1;
  if (ctx.json) ctx.printJson({ copied, chains: state.heads.length, verify: verified });
  else
    ctx.print(
      `copied ${copied} entries in ${state.heads.length} category chains; the copy ${verified.ok ? `verifies (${verified.checked} entries)` : `does NOT verify: ${verified.firstBroken?.reason ?? ''}`}`,
    );
}

async function verifyCommand(ctx: CommandContext, opts: { anchors?: boolean } = {}): Promise<void> {
  const store = openStore(ctx);
  const r = await store.verifyChain();
  const a = opts.anchors === false ? undefined : await verifyAnchors(ctx, store);
  if (!r.ok || (a && !a.ok)) ctx.exitCode = 1;
  if (ctx.json) {
    ctx.printJson(a ? { ...r, ok: r.ok && a.ok, anchors: a } : r);
    return;
  }
  if (r.ok) {
    ctx.print(`OK: ${r.checked} entries in ${r.chains} category chains verified`);
  } else {
    const b = r.firstBroken!;
    ctx.print(
      `BROKEN: ${b.id ? `entry ${b.id}` : `category ${b.category}`}${b.id ? ` (${b.category}${b.timestamp ? `, ${b.timestamp}` : ''})` : ''}: ${b.reason}`,
    );
    ctx.print(`checked ${r.checked} entries before the break`);
  }
  if (!a) return;
  if (!a.ok) ctx.print(`BROKEN: category ${a.problem!.category}: ${a.problem!.reason}`);
  else if (a.anchors === 0)
    ctx.print(`anchors: none yet in ${a.repository} (every database backup writes one)`);
  else
    ctx.print(
      `OK: the store holds every entry up to ${a.anchors} anchors in ${a.repository} (newest ${a.newest})`,
    );
}
