/**
 * The Logs page, single entries, and export. Every view of the logs is itself audited (PCI DSS
 * 10.2.1.3: all access to audit logs), with the filter used and the number of entries shown.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { SafetynetError, StorageError, UsageError } from '../../errors.js';
import { DEFAULT_COUNT_LIMIT } from '../../log/store/query.js';
import type { LevelCounts } from '../../log/store/types.js';
import type { LogFilter } from '../../log/types.js';
import { auditAdmin, type Outcome } from '../audit.js';
import type { WebContext } from '../context.js';
import { html } from '../html.js';
import { EXPORT_CONTENT_TYPES, EXPORT_FORMATS, exportChunks, type ExportFormat } from '../logs/export.js';
import { parseLogsQuery, type FieldError, type ParsedLogsQuery } from '../logs/filter.js';
import { entryItem } from '../views/entry.js';
import { layout } from '../views/layout.js';
import { logsPage, type LogsView } from '../views/logs.js';
import { messagePage } from '../views/message.js';

const PAGE_SIZE = 50;

/** What a filter asked for, for the audit entry (only the fields that were set). */
function describe(filter: LogFilter, cursor?: string, exactCounts = false): Record<string, unknown> {
  return { ...filter, ...(cursor ? { cursor } : {}), ...(exactCounts ? { counts: 'exact' } : {}) };
}

/** The store's own UsageErrors (a damaged cursor, a query it cannot run) as form messages. */
function usageToFieldError(err: UsageError): FieldError {
  if (err.code === 'E_BAD_CURSOR') {
    return {
      field: 'cursor',
      message: 'The page position in the link is damaged; start again from the newest entries.',
    };
  }
  if (err.code === 'E_BAD_TEXT')
    return { field: 'q', message: 'The text has no word to search for; search for words or numbers.' };
  return { field: 'q', message: err.message };
}

export function registerLogRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { deps } = ctx;
  const store = deps.logStore;

  /** Categories for the form: configured ones first, then any others the store has seen. */
  async function knownCategories(): Promise<string[]> {
    const names = [...deps.config.logs.categories];
    try {
      for (const c of await store.categories()) if (!names.includes(c)) names.push(c);
    } catch {
      // The configured list is enough to show the form.
    }
    return names;
  }

  function render(req: FastifyRequest, reply: FastifyReply, status: number, view: LogsView): FastifyReply {
    return ctx.page(
      reply,
      status,
      layout({
        title: 'Logs',
        viewer: ctx.viewer(req)!,
        current: 'logs',
        backups: Boolean(deps.backups),
        flash: ctx.takeFlash(req),
        body: logsPage(view),
      }),
    );
  }

  function unavailable(req: FastifyRequest, reply: FastifyReply, err: SafetynetError): FastifyReply {
    return ctx.page(
      reply,
      503,
      messagePage({
        title: 'Log store unavailable',
        message: `The log store could not be read: ${err.message}`,
        viewer: ctx.viewer(req)!,
        backups: Boolean(deps.backups),
        link: { href: '/logs', text: 'Try again' },
      }),
    );
  }

  async function audit(
    req: FastifyRequest,
    action: string,
    outcome: Outcome,
    message: string,
    extra: Record<string, unknown>,
  ) {
    const user = req.admin!.user;
    await auditAdmin(deps.logger, `admin "${user}" ${message}`, {
      actor: user,
      action,
      outcome,
      origin: ctx.origin(req),
      ...extra,
    });
  }

  /**
   * Per-level counts, bounded unless `exact` (both run in a reader thread under its time limit).
   * A count that fails or runs out of time leaves the page usable: it says why instead.
   */
  async function countOrReason(filter: LogFilter, exact: boolean): Promise<LevelCounts | { error: string }> {
    try {
      return await store.countByLevel(
        filter,
        exact ? {} : { limit: deps.logCountLimit ?? DEFAULT_COUNT_LIMIT },
      );
    } catch (err) {
      if (err instanceof UsageError) throw err;
      if (!(err instanceof SafetynetError)) throw err;
      return {
        error:
          err.code === 'E_LOG_READ_TIMEOUT'
            ? 'counting took longer than the time limit; narrow the filter (a category, a shorter time range)'
            : err.message,
      };
    }
  }

  app.get('/logs', async (req, reply) => {
    const categories = await knownCategories();
    const parsed = parseLogsQuery(req.query, categories, deps.clock.now());
    if (parsed.errors.length) {
      await audit(req, 'logs.search', 'failure', 'searched the logs with an invalid filter', {
        reason: parsed.errors.map((e) => e.message).join('; '),
      });
      return render(req, reply, 400, { form: parsed.form, categories, errors: parsed.errors });
    }
    const { filter, cursor } = parsed;
    // Counts leave out the level so they show where the other levels stand for this filter.
    const countFilter: LogFilter = { ...filter };
    delete countFilter.level;
    delete countFilter.minLevel;
    const exact = parsed.form.counts === 'exact';
    try {
      const [page, counts] = await Promise.all([
        store.search(filter, cursor ? { limit: PAGE_SIZE, cursor } : { limit: PAGE_SIZE }),
        countOrReason(countFilter, exact),
      ]);
      await audit(req, 'logs.search', 'success', 'searched the logs', {
        target: describe(filter, cursor, exact),
        results: page.entries.length,
      });
      return render(req, reply, 200, {
        form: parsed.form,
        categories,
        errors: [],
        result: {
          entries: page.entries,
          counts,
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        },
      });
    } catch (err) {
      if (err instanceof UsageError) {
        const fieldError = usageToFieldError(err);
        await audit(req, 'logs.search', 'failure', 'searched the logs with an invalid filter', {
          reason: fieldError.message,
        });
        return render(req, reply, 400, { form: parsed.form, categories, errors: [fieldError] });
      }
      if (err instanceof StorageError || err instanceof SafetynetError) return unavailable(req, reply, err);
      throw err;
    }
  });

  app.get('/logs/entry/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const viewer = ctx.viewer(req)!;
    const entry = /^\d{1,18}$/.test(id) ? await store.get(id) : undefined;
    await audit(req, 'logs.view', entry ? 'success' : 'failure', `viewed log entry #${id.slice(0, 20)}`, {
      target: id.slice(0, 20),
      ...(entry ? {} : { reason: 'no such entry' }),
    });
    if (!entry) {
      return ctx.page(
        reply,
        404,
        messagePage({
          title: 'No such entry',
          message: `There is no log entry #${id.slice(0, 20)} (it may have been removed by retention).`,
          viewer,
          backups: Boolean(deps.backups),
          link: { href: '/logs', text: 'Back to the logs' },
        }),
      );
    }
    return ctx.page(
      reply,
      200,
      layout({
        title: `Entry #${entry.id}`,
        viewer,
        current: 'logs',
        backups: Boolean(deps.backups),
        body: html`<h1>Log entry #${entry.id}</h1>
          <p><a href="/logs">← All logs</a></p>
          <ul class="entries">
            ${entryItem(entry, true)}
          </ul>`,
      }),
    );
  });

  // No automatic HEAD route: a HEAD would run (and audit) a whole export only to drop the body.
  app.get('/logs/export', { exposeHeadRoute: false }, async (req, reply) => {
    const categories = await knownCategories();
    const query = { ...(req.query as Record<string, unknown>) };
    const format = query.format;
    delete query.format;
    // An export covers the whole filter, not the page the user was on.
    delete query.cursor;
    const parsed: ParsedLogsQuery = parseLogsQuery(query, categories, deps.clock.now());
    if (!EXPORT_FORMATS.includes(format as ExportFormat)) {
      parsed.errors.push({
        field: 'format',
        message: `Export format "${String(format ?? '')}" is unknown; use ndjson or csv.`,
      });
    }
    if (parsed.errors.length) {
      await audit(req, 'logs.export', 'failure', 'exported the logs with an invalid filter', {
        reason: parsed.errors.map((e) => e.message).join('; '),
      });
      return render(req, reply, 400, { form: parsed.form, categories, errors: parsed.errors });
    }
    const fmt = format as ExportFormat;
    const target = describe(parsed.filter);
    // Check the filter against the store before the 200 goes out, so a bad one still gets a page.
    try {
      await store.search(parsed.filter, { limit: 1 });
    } catch (err) {
      if (err instanceof UsageError)
        return render(req, reply, 400, { form: parsed.form, categories, errors: [usageToFieldError(err)] });
      if (err instanceof SafetynetError) return unavailable(req, reply, err);
      throw err;
    }
    await audit(req, 'logs.export', 'started', `started a log export (${fmt})`, { target, format: fmt });

    const progress = { rows: 0 };
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const chunks = exportChunks(store, parsed.filter, fmt, progress, abort.signal);
    // Wraps the export so its end — complete, failed or cut off by the client — is audited.
    async function* audited(): AsyncGenerator<string> {
      let outcome: Outcome = 'failure';
      let reason: string | undefined = 'the client went away';
      try {
        yield* chunks;
        if (!abort.signal.aborted) {
          outcome = 'success';
          reason = undefined;
        }
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
        throw err;
      } finally {
        await audit(req, 'logs.export', outcome, `exported ${progress.rows} log entries (${fmt})`, {
          target,
          format: fmt,
          rows: progress.rows,
          ...(reason ? { reason } : {}),
        });
      }
    }
    const stamp = new Date(deps.clock.now())
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    reply
      .code(200)
      .header('content-type', EXPORT_CONTENT_TYPES[fmt])
      .header('content-disposition', `attachment; filename="safetynet-logs-${stamp}.${fmt}"`);
    return reply.send(Readable.from(audited(), { objectMode: false }));
  });
}
