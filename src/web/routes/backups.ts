/**
 * The Backups page and its two buttons (registered only when a BackupsPageProvider is given).
 * The buttons are POST + CSRF, audited, and answer with a redirect back to the page (POST-
 * redirect-GET) carrying a one-time message; the page then shows the requested jobs running and,
 * when done, their outcome, reloading itself meanwhile (meta refresh, no JavaScript needed).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { auditAdmin } from '../audit.js';
import { parseBackupsQuery, type BackupActionResult, type BackupsPageProvider } from '../backups.js';
import type { WebContext } from '../context.js';
import { backupsPage, backupsRefreshSeconds, runbookPage } from '../views/backups.js';
import { messagePage } from '../views/message.js';
import { layout } from '../views/layout.js';

/**
 * The runbook ships in the package's docs/ folder; this file is three levels below the package
 * root both as source (src/web/routes) and built (dist/web/routes).
 */
export const RUNBOOK_FILE = fileURLToPath(new URL('../../../docs/disaster-recovery.md', import.meta.url));

export function registerBackupRoutes(
  app: FastifyInstance,
  ctx: WebContext,
  provider: BackupsPageProvider,
): void {
  const { deps } = ctx;

  app.get('/backups', async (req, reply) => {
    const viewer = ctx.viewer(req)!;
    // A damaged paging link shows the newest points with a message (400), never an error page.
    const { query, errors } = parseBackupsQuery(req.query);
    const status = await provider.status(query);
    const refresh = backupsRefreshSeconds(status);
    return ctx.page(
      reply,
      errors.length ? 400 : 200,
      layout({
        title: 'Backups',
        viewer,
        current: 'backups',
        backups: true,
        flash: ctx.takeFlash(req),
        ...(refresh !== null ? { refreshSeconds: refresh } : {}),
        body: backupsPage(status, { csrfToken: viewer.csrfToken, errors }),
      }),
    );
  });

  // The runbook in the panel: restores are command-line work, but the instructions should be one
  // click away from the page that says so.
  app.get('/backups/runbook', async (req, reply) => {
    const viewer = ctx.viewer(req)!;
    let text: string;
    try {
      text = await readFile(RUNBOOK_FILE, 'utf8');
    } catch {
      return ctx.page(
        reply,
        404,
        messagePage({
          title: 'Runbook not found',
          message: `The disaster-recovery runbook was expected at ${RUNBOOK_FILE}; it is docs/disaster-recovery.md in the safetynet package and repository.`,
          viewer,
          backups: true,
          link: { href: '/backups', text: 'Back to Backups' },
        }),
      );
    }
    return ctx.page(
      reply,
      200,
      layout({
        title: 'Runbook',
        viewer,
        current: 'backups',
        backups: true,
        body: runbookPage(text, 'docs/disaster-recovery.md'),
      }),
    );
  });

  /** Runs a button's action, audits who pressed it and the outcome, and shows the result (POST-redirect-GET). */
  async function press(
    req: FastifyRequest,
    reply: FastifyReply,
    action: string,
    what: string,
    run: (actor: string) => Promise<BackupActionResult>,
  ): Promise<FastifyReply> {
    const user = req.admin!.user;
    const origin = ctx.origin(req);
    let result: BackupActionResult;
    try {
      result = await run(user);
    } catch (err) {
      result = { ok: false, message: `${what} failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    await auditAdmin(deps.logger, `admin "${user}" asked for ${what}: ${result.ok ? 'ok' : 'failed'}`, {
      actor: user,
      action,
      outcome: result.ok ? 'success' : 'failure',
      origin,
      ...(result.ok ? {} : { reason: result.message }),
    });
    await ctx.setFlash(req, result.message);
    return reply.redirect('/backups', 303);
  }

  app.post('/backups/backup-now', (req, reply) =>
    press(req, reply, 'backup.now', 'a backup now', (a) => provider.backupNow(a)),
  );
  app.post('/backups/restore-test-now', (req, reply) =>
    press(req, reply, 'restore-test.now', 'a restore test now', (a) => provider.restoreTestNow(a)),
  );
}
