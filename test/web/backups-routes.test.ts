/**
 * The Backups page's wiring (login, CSRF, audit, result message) with a hand-written provider:
 * the real one (issue 5's status report) does not exist yet. The page is absent without one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BackupsPageProvider, BackupsStatus } from '../../src/web/backups.js';
import { form, makePanel, type Panel } from './helpers.js';

let panel: Panel | undefined;
afterEach(async () => {
  await panel?.close();
  panel = undefined;
});

function provider(): BackupsPageProvider & { calls: string[] } {
  const calls: string[] = [];
  const status: BackupsStatus = {
    healthy: false,
    summary: 'last full backup is 30 h old <script>x</script>',
    warnings: ['restore test overdue'],
    rpo: { objectiveMs: 3_600_000, exposureMs: 5_400_000 },
    lastRuns: [{ kind: 'full', at: '2026-11-25T03:00:00.000Z', ok: true }],
    nextRuns: [{ kind: 'full', at: '2026-11-27T03:00:00.000Z' }],
    restorePoints: [{ id: 'rp-1', time: '2026-11-25T03:00:00.000Z', kind: 'full' }],
    restoreTests: [],
  };
  return {
    calls,
    status: async () => status,
    backupNow: async (actor) => {
      calls.push(`backup:${actor}`);
      return { ok: true, message: 'Backup finished: restore point rp-2.' };
    },
    restoreTestNow: async (actor) => {
      calls.push(`restore-test:${actor}`);
      throw new Error('repository locked');
    },
  };
}

describe('backups page', () => {
  it('is not there without a provider (and not linked)', async () => {
    panel = await makePanel();
    const { session } = await panel.login();
    expect((await panel.get('/backups', session)).statusCode).toBe(404);
    expect((await panel.get('/logs', session)).body).not.toContain('href="/backups"');
  });

  it('renders the status escaped; buttons need CSRF, are audited, and show their result', async () => {
    const p = provider();
    panel = await makePanel({ backups: p });
    const { session, csrf } = await panel.login();
    const page = await panel.get('/backups', session);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(
      'Needs attention — last full backup is 30 h old &lt;script&gt;x&lt;/script&gt;',
    );
    expect(page.body).toMatch(/Data at risk now:\s*<strong>1 h 30 min<\/strong>\s*\(objective 1 h 0 min\)/);

    const forged = await panel.app.inject({
      method: 'POST',
      url: '/backups/backup-now',
      cookies: { sn_session: session },
      ...form({}),
    });
    expect(forged.statusCode).toBe(403);
    expect(p.calls).toEqual([]);

    const ok = await panel.app.inject({
      method: 'POST',
      url: '/backups/backup-now',
      cookies: { sn_session: session },
      ...form({ _csrf: csrf }),
    });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/backups');
    expect((await panel.get('/backups', session)).body).toContain(
      '<p class="flash" role="status">Backup finished: restore point rp-2.</p>',
    );
    // Shown once.
    expect((await panel.get('/backups', session)).body).not.toContain('class="flash"');

    await panel.app.inject({
      method: 'POST',
      url: '/backups/restore-test-now',
      cookies: { sn_session: session },
      ...form({ _csrf: csrf }),
    });
    expect((await panel.get('/backups', session)).body).toContain(
      'a restore test now failed: repository locked',
    );
    expect(p.calls).toEqual(['backup:alice', 'restore-test:alice']);

    const audit = (await panel.entries('admin')).filter((e) => String(e.details.action).endsWith('.now'));
    expect(audit.map((e) => [e.details.action, e.details.outcome, e.details.actor])).toEqual([
      ['restore-test.now', 'failure', 'alice'],
      ['backup.now', 'success', 'alice'],
    ]);
  });
});
