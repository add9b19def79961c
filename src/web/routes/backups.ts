/**
 * The Backups page and its two buttons (registered only when a BackupsPageProvider is given).
 * PLACEHOLDER for issue 5's status report: the routes, login, CSRF and audit are final; what the
 * page shows follows `BackupsStatus` (see ../backups.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditAdmin } from '../audit.js';
import type { BackupActionResult, BackupsPageProvider } from '../backups.js';
import type { WebContext } from '../context.js';
import { backupsPage } from '../views/backups.js';
import { layout } from '../views/layout.js';

export function registerBackupRoutes(
  app: FastifyInstance,
  ctx: WebContext,
  provider: BackupsPageProvider,
): void {
  const { deps } = ctx;

  app.get('/backups', async (req, reply) => {
    const viewer = ctx.viewer(req)!;
    const status = await provider.status();
    return ctx.page(
      reply,
      200,
      layout({
        title: 'Backups',
        viewer,
        current: 'backups',
        backups: true,
        flash: ctx.takeFlash(req),
        body: backupsPage(status, viewer.csrfToken),
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
    ctx.setFlash(req, result.message);
    return reply.redirect('/backups', 303);
  }

  app.post('/backups/backup-now', (req, reply) =>
    press(req, reply, 'backup.now', 'a backup now', (a) => provider.backupNow(a)),
  );
  app.post('/backups/restore-test-now', (req, reply) =>
    press(req, reply, 'restore-test.now', 'a restore test now', (a) => provider.restoreTestNow(a)),
  );
}
