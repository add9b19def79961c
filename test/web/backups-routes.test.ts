/**
 * The Backups page's wiring and rendering with a hand-written provider (login, CSRF, audit, the
 * one-time result message, query checks, escaping of every field, the self-reload while busy).
 * The real provider over a real repository and scheduler is tested in test/server/.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackupsPageProvider, BackupsQuery, BackupsStatus } from '../../src/web/backups.js';
import { parseBackupsQuery } from '../../src/web/backups.js';
import { escapeHtml } from '../../src/web/html.js';
import { RUNBOOK_FILE } from '../../src/web/routes/backups.js';
import { sampleBackupsStatus } from './backups-sample.js';
import { form, makePanel, type Panel } from './helpers.js';

let panel: Panel | undefined;
afterEach(async () => {
  await panel?.close();
  panel = undefined;
});

const EVIL = `<script>window.x=1</script>"'><img src=x onerror=alert(1)>`;
const EVIL_ESCAPED =
  '&lt;script&gt;window.x=1&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;';

/** The page with runs of white space collapsed (the templates wrap long lines). */
const flat = (body: string) => body.replace(/\s+/g, ' ');

function provider(status: BackupsStatus = sampleBackupsStatus(EVIL)): BackupsPageProvider & {
  calls: string[];
  queries: BackupsQuery[];
} {
  const calls: string[] = [];
  const queries: BackupsQuery[] = [];
  return {
    calls,
    queries,
    status: async (q = {}) => {
      queries.push(q);
      return status;
    },
    backupNow: async (actor) => {
      calls.push(`backup:${actor}`);
      return { ok: true, message: 'Backup requested.' };
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

  it('renders every section with every field escaped', async () => {
    panel = await makePanel({ backups: provider() });
    const { session } = await panel.login();
    const page = await panel.get('/backups', session);
    expect(page.statusCode).toBe(200);
    const body = page.body;
    // Nothing from the status became markup.
    expect(body).not.toContain('<script>window');
    expect(body).not.toContain('<img');
    const shown = body.split(EVIL_ESCAPED).length - 1;
    // summary, warning, repository URL, job summaries and errors, check names and details, drill steps …
    expect(shown).toBeGreaterThanOrEqual(12);
    expect(body).toMatch(/class="banner attention"/);
    expect(body).toContain('Needs attention');
    expect(body).toContain(`summary line ${EVIL_ESCAPED}`);
    expect(body).toContain(`<li>warning ${EVIL_ESCAPED}</li>`);
    // RPO against the objective, with its meter.
    expect(body).toMatch(
      /id="rpo"[\s\S]*?<p class="figure">1\sh\s30\smin<\/p>[\s\S]*?objective\s*<strong>1\sh<\/strong> —\s*exceeded/,
    );
    expect(body).toMatch(/<meter\s+min="0"\s+max="3600000"/);
    // The schedule in the shop's time zone, failures in a row.
    expect(body).toContain('Fri 03:00 Europe/Berlin');
    expect(body).toContain('3 failures in a row');
    // Restore test and drill with every check.
    expect(body).toMatch(/<details class="run" id="test-c0ffee01">/);
    expect(body).toContain(`<td data-label="Detail" class="detail">detail ${EVIL_ESCAPED}</td>`);
    expect(flat(body)).toMatch(/<details class="run" id="drill-d0d0d0d0">.*RTO 3.2 s, RPO 10 min/);
    // No restore from the browser: said so, with the commands.
    expect(body).toContain('Restores are not started from the browser.');
    expect(body).toContain('safetynet restore db --to data/shop.sqlite --at');
    expect(body).toContain('<a href="/backups/runbook" id="runbook-link">disaster-recovery runbook</a>');
    expect(body).not.toMatch(/action="\/backups\/restore"/);
    // Idle: no self-reload.
    expect(body).not.toContain('http-equiv="refresh"');
  });

  it('reloads itself while a job runs or waits, and shows the request and its progress', async () => {
    const status = sampleBackupsStatus('x', {
      activity: {
        running: { name: 'incremental', reason: 'manual', startedAt: '2026-11-26T11:59:58.000Z' },
        queued: ['files'],
        requests: [
          {
            what: 'backup',
            actor: 'alice',
            at: '2026-11-26T11:59:57.000Z',
            jobs: [
              { name: 'incremental', state: 'running' },
              { name: 'files', state: 'waiting' },
            ],
          },
        ],
      },
    });
    panel = await makePanel({ backups: provider(status) });
    const { session } = await panel.login();
    const body = (await panel.get('/backups', session)).body;
    // Just pressed: every second; later every 3 seconds.
    expect(body).toContain('<meta http-equiv="refresh" content="1" />');
    expect(body).toMatch(
      /Running now: <strong>incremental<\/strong>\s*<span class="note"\s*>\(asked for from this panel\)/,
    );
    expect(body).toMatch(/<li data-job="files" data-state="waiting">/);
    expect(flat(body)).toContain('This page reloads itself every second until the work is done.');
    status.generatedAt = '2026-11-26T12:05:00.000Z';
    const later = (await panel.get('/backups', session)).body;
    expect(later).toContain('<meta http-equiv="refresh" content="3" />');
    expect(flat(later)).toContain('This page reloads itself every 3 seconds until the work is done.');

    // Done: the outcome is shown and the reloading stops.
    status.activity = {
      running: null,
      queued: [],
      requests: [
        {
          what: 'backup',
          actor: 'alice',
          at: '2026-11-26T11:59:57.000Z',
          jobs: [
            {
              name: 'incremental',
              state: 'done',
              run: {
                startedAt: '2026-11-26T11:59:58.000Z',
                outcome: 'success',
                durationMs: 900,
                summary: 'incremental point P',
              },
            },
          ],
        },
      ],
    };
    const done = (await panel.get('/backups', session)).body;
    expect(done).not.toContain('http-equiv="refresh"');
    expect(done).toMatch(
      /data-state="done">[\s\S]*?<span class="badge good">success<\/span>[\s\S]*?incremental point P/,
    );
  });

  it('checks the query: a damaged paging link shows the newest points with a message and 400', async () => {
    const p = provider();
    panel = await makePanel({ backups: p });
    const { session } = await panel.login();
    const ok = await panel.get('/backups?kind=full&before=20261126T030000000Z-bbbbbb', session);
    expect(ok.statusCode).toBe(200);
    expect(p.queries.at(-1)).toEqual({ kind: 'full', before: '20261126T030000000Z-bbbbbb' });

    for (const [url, message] of [
      ['/backups?before=%3Cscript%3E', '"before" must be a restore point id'],
      ['/backups?kind=weekly', '"kind" must be one of full, incremental, files'],
      ['/backups?kind=full&kind=files', '"kind" is given more than once'],
      ['/backups?sort=asc', 'unknown parameter "sort"'],
    ] as const) {
      const res = await panel.get(url, session);
      expect(res.statusCode, url).toBe(400);
      expect(res.body, url).toMatch(/<div class="errors" role="alert" id="points-errors">/);
      expect(res.body, url).toContain(message.replace(/"/g, '&quot;'));
      expect(res.body).not.toContain('<script>');
    }
    expect(p.queries.at(-1)).toEqual({});
  });

  it('buttons need CSRF, are audited, and show their result once', async () => {
    const p = provider();
    panel = await makePanel({ backups: p });
    const { session, csrf } = await panel.login();

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
      '<p class="flash" role="status">Backup requested.</p>',
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

describe('runbook', () => {
  it('shows docs/disaster-recovery.md as escaped text, behind the login', async () => {
    panel = await makePanel({ backups: provider() });
    expect((await panel.get('/backups/runbook')).statusCode).toBe(302);
    const { session } = await panel.login();
    const res = await panel.get('/backups/runbook', session);
    expect(res.statusCode).toBe(200);
    // The whole file, escaped (its own <placeholders> stay text).
    const text = readFileSync(RUNBOOK_FILE, 'utf8');
    expect(res.body).toContain(`<pre class="wrap runbook" id="runbook">${escapeHtml(text)}</pre>`);
    expect(text).toContain('# Disaster-recovery runbook');
  });
});

describe('parseBackupsQuery', () => {
  it('accepts what the page links produce and nothing else', () => {
    expect(parseBackupsQuery({})).toEqual({ query: {}, errors: [] });
    expect(parseBackupsQuery({ kind: '', before: '' })).toEqual({ query: {}, errors: [] });
    expect(parseBackupsQuery({ kind: 'files', before: '20261126T030000123Z-9f3a1c' }).query).toEqual({
      kind: 'files',
      before: '20261126T030000123Z-9f3a1c',
    });
    const bad = parseBackupsQuery({ kind: 'files', before: '20261126T030000123Z-9f3a1' });
    expect(bad.query).toEqual({ kind: 'files' });
    expect(bad.errors.map((e) => e.field)).toEqual(['before']);
    expect(parseBackupsQuery(undefined)).toEqual({ query: {}, errors: [] });
  });
});
