/**
 * The Backups page end to end through app.inject(): the real provider over a real local
 * repository and SQLite shop database, the real scheduler running serve's real jobs (it catches up
 * every job at start, so a fresh repository gets its first points and a restore test at once).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupDatabase } from '../../src/backup/database.js';
import { buildStatus } from '../../src/backup/status.js';
import { escapeHtml } from '../../src/web/html.js';
import { form } from '../web/helpers.js';
import { createServerEnv, Gate, type ServerEnv } from './env.js';

let current: ServerEnv | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function serverEnv(): Promise<ServerEnv> {
  current = await createServerEnv();
  await current.settle();
  return current;
}

/** The point ids in the restore points table, in page order. */
function pointIds(body: string): string[] {
  return [...body.matchAll(/<tr data-point="([^"]+)">/g)].map((m) => m[1]!);
}

async function newestFirstIds(e: ServerEnv, kind?: string): Promise<string[]> {
  return (await e.env.deps.repo.listPoints())
    .filter((p) => !kind || p.kind === kind)
    .map((p) => p.id)
    .sort()
    .reverse();
}

async function press(e: ServerEnv, session: string, csrf: string, button: 'backup-now' | 'restore-test-now') {
  const res = await e.panel.app.inject({
    method: 'POST',
    url: `/backups/${button}`,
    cookies: { sn_session: session },
    ...form({ _csrf: csrf }),
  });
  expect(res.statusCode).toBe(303);
  expect(res.headers.location).toBe('/backups');
}

describe('Backups page over a real repository and scheduler', () => {
  it('shows what the status report knows: banner, warnings, last backups, jobs, points, restore test with every check', async () => {
    const e = await serverEnv();
    const { session } = await e.panel.login();
    const res = await e.panel.get('/backups', session);
    expect(res.statusCode).toBe(200);
    const body = res.body;
    const report = await buildStatus(e.env.deps);

    expect(body).toContain(`class="banner ${report.healthy ? 'ok' : 'attention'}"`);
    // The test repository shares the database's disk: status warns, and so does the page.
    expect(report.warnings.some((w) => w.includes('same file system'))).toBe(true);
    for (const w of report.warnings) expect(body).toContain(`<li>${escapeHtml(w)}</li>`);

    // The catch-up made a full, an incremental and a files point; all are listed newest first.
    const ids = await newestFirstIds(e);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(pointIds(body)).toEqual(ids);
    for (const kind of ['full', 'incremental', 'files'] as const) {
      const row = new RegExp(`<tr data-kind="${kind}">[\\s\\S]*?</tr>`).exec(body)![0];
      expect(row, kind).toContain(report.last[kind]!.time.replace('T', ' ').replace(/\.\d+Z$/, ''));
      expect(row, kind).toContain('<span class="badge good">success</span>');
    }
    expect(body).toMatch(/id="rpo"[\s\S]*?objective\s*<strong>1\sh<\/strong> —\s*within it/);

    // Every job with its schedule, next run and last outcome.
    for (const job of report.jobs) {
      const row = new RegExp(`<tr data-job="${job.name}">[\\s\\S]*?</tr>`).exec(body)![0];
      expect(row).toContain(`<code>${escapeHtml(job.cron)}</code>`);
      expect(row).toContain(`datetime="${job.nextRun}"`);
      expect(row).toContain('<span class="badge good">success</span>');
    }

    // The restore test the catch-up ran, with each check expandable.
    const tests = await e.env.deps.repo.listHistory('restore-test');
    expect(tests).toHaveLength(1);
    const block = new RegExp(`<details class="run" id="test-${tests[0]!.id}">[\\s\\S]*?</details>`).exec(
      body,
    )![0];
    expect(block).toContain('<span class="badge good">passed</span>');
    for (const c of tests[0]!.checks as { name: string }[])
      expect(block).toContain(`<td data-label="Check">${escapeHtml(c.name)}</td>`);
    expect(block).toContain('PRAGMA integrity_check');
    expect(block).toContain('sampled files restore with their SHA-256');

    expect(body).toContain('id="no-drills"');
    expect(body).not.toContain('http-equiv="refresh"');
  });

  it('"Back up now": the page shows the jobs running and reloads itself, then their results and the new points', async () => {
    const e = await serverEnv();
    const { session, csrf } = await e.panel.login();
    const before = await newestFirstIds(e);
    const gate = new Gate();
    e.gates.set('incremental', gate);

    await press(e, session, csrf, 'backup-now');
    await gate.reached;
    const running = (await e.panel.get('/backups', session)).body;
    expect(running).toContain(
      '<p class="flash" role="status">Backup requested: a database point, a log-store point and a files point.',
    );
    expect(running).toContain('<meta http-equiv="refresh" content="1" />');
    expect(running).toMatch(/Running now: <strong>incremental<\/strong>/);
    expect(running).toMatch(/<li data-job="incremental" data-state="running">/);
    expect(running).toMatch(/<li data-job="files" data-state="waiting">/);
    expect(running).toMatch(/<tr data-job="incremental">[\s\S]*?running now/);
    expect(pointIds(running)).toEqual(before);

    gate.release();
    await e.settle();
    const done = (await e.panel.get('/backups', session)).body;
    expect(done).not.toContain('http-equiv="refresh"');
    expect(done).not.toContain('class="flash"');
    const after = await newestFirstIds(e);
    // incremental: a database point and a log-store point (source "logs"); files: a files point.
    expect(after).toHaveLength(before.length + 3);
    const added = after.filter((id) => !before.includes(id));
    // The new points are at the top of the list.
    expect(pointIds(done).slice(0, 3).sort()).toEqual(added.sort());
    for (const job of ['incremental', 'files']) {
      const item = new RegExp(`<li data-job="${job}" data-state="done">[\\s\\S]*?</li>`).exec(done)![0];
      expect(item).toContain('<span class="badge good">success</span>');
      // The run's summary names the point it made.
      expect(
        added.some((id) => item.includes(id)),
        item,
      ).toBe(true);
    }
    expect(done).toMatch(
      /<strong>Back up now<\/strong>\s*<span class="note">by alice, [\s\S]*? — done<\/span>/,
    );

    const audit = (await e.panel.entries('admin')).filter((x) => x.details.action === 'backup.now');
    expect(audit.map((x) => [x.details.actor, x.details.outcome])).toEqual([['alice', 'success']]);
  });

  it('"Run restore test now" shows the result with every check; on a damaged repository it is FAILED and the banner says so', async () => {
    const e = await serverEnv();
    const { session, csrf } = await e.panel.login();
    // Damage the newest database point's chain: one flipped bit in a stored object.
    const points = await e.env.deps.repo.listPoints();
    const db = [...points].reverse().find((p) => p.source === 'db' && p.objects.length > 0)!;
    const file = path.join(e.env.deps.repo.storage.localPath!, db.objects[0]!.key);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(file, bytes);

    await press(e, session, csrf, 'restore-test-now');
    await e.settle();
    const body = (await e.panel.get('/backups', session)).body;
    const tests = (await e.env.deps.repo.listHistory('restore-test')).reverse();
    expect(tests).toHaveLength(2);
    const newest = tests[0]!;
    expect(newest.ok).toBe(false);
    // Newest first, expandable, the failed check marked and explained.
    const blocks = [...body.matchAll(/<details class="run" id="test-([^"]+)">/g)].map((m) => m[1]);
    expect(blocks).toEqual([newest.id, tests[1]!.id]);
    const block = new RegExp(`<details class="run" id="test-${newest.id}">[\\s\\S]*?</details>`).exec(
      body,
    )![0];
    expect(block).toContain('<span class="badge bad">FAILED</span>');
    expect(block).toContain('failed: <strong>objects decrypt and match the manifest</strong>');
    expect(block).toMatch(
      /<tr class="fail">[\s\S]*?objects decrypt and match the manifest[\s\S]*?E_OBJECT_CORRUPT/,
    );
    expect(body).toContain('class="banner attention"');
    expect(body).toMatch(
      /<li>the last restore test \([^)]*\) FAILED: objects decrypt and match the manifest<\/li>/,
    );
    expect(body).toMatch(/id="last-test">[\s\S]*?<p class="figure">FAILED<\/p>/);
    const item = /<li data-job="restore-test" data-state="done">[\s\S]*?<\/li>/.exec(body)![0];
    expect(item).toContain('<span class="badge bad">failed</span>');
    expect(item).toContain('restore test FAILED: objects decrypt and match the manifest');
  });

  it('pages restore points newest first by keyset: a new point does not shift older pages; kinds filter', async () => {
    const e = await serverEnv();
    const { session } = await e.panel.login();
    while ((await e.env.deps.repo.listPoints()).length < 24)
      await backupDatabase(e.env.deps, { mode: 'incremental' });
    const all = await newestFirstIds(e);

    const first = (await e.panel.get('/backups', session)).body;
    expect(pointIds(first)).toEqual(all.slice(0, 20));
    expect(first).not.toContain('id="points-newest"');
    const older = /href="([^"]+)#points"\s+id="points-older"/.exec(first)![1]!.replace(/&amp;/g, '&');
    expect(older).toBe(`/backups?before=${all[19]}`);
    const second = await e.panel.get(older, session);
    expect(second.statusCode).toBe(200);
    expect(pointIds(second.body)).toEqual(all.slice(20));
    expect(second.body).toContain('id="points-newest"');
    expect(second.body).not.toContain('id="points-older"');

    // A backup meanwhile: page 1 starts with it, page 2 (same link) is unchanged.
    const fresh = await backupDatabase(e.env.deps, { mode: 'incremental' });
    expect(pointIds((await e.panel.get('/backups', session)).body)[0]).toBe(fresh.entry.id);
    expect(pointIds((await e.panel.get(older, session)).body)).toEqual(all.slice(20));

    const incr = (await e.panel.get('/backups?kind=incremental', session)).body;
    expect(pointIds(incr)).toEqual((await newestFirstIds(e, 'incremental')).slice(0, 20));
    expect(incr).toMatch(/<a href="\/backups\?kind=incremental#points" aria-current="page"/);
    const files = (await e.panel.get('/backups?kind=files', session)).body;
    expect(pointIds(files)).toEqual(await newestFirstIds(e, 'files'));
  });

  it('with the scheduler stopped the buttons say nothing was started, and the audit records a failure', async () => {
    const e = await serverEnv();
    const { session, csrf } = await e.panel.login();
    await e.scheduler.stop();
    await press(e, session, csrf, 'backup-now');
    const body = (await e.panel.get('/backups', session)).body;
    expect(body).toMatch(/<p class="flash" role="status">No backup was started: the scheduler is stopped/);
    expect(body).not.toContain('http-equiv="refresh"');
    const audit = (await e.panel.entries('admin')).filter((x) => x.details.action === 'backup.now');
    expect(audit.map((x) => x.details.outcome)).toEqual(['failure']);
  });
});
