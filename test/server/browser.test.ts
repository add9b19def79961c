/**
 * `safetynet serve` in one process (startServe: scheduler + admin panel on 127.0.0.1, random port)
 * driven by a real headless Chromium (Debian's /usr/bin/chromium through playwright-core): log in,
 * open Backups, press "Back up now" and see the new restore points appear, run the restore test
 * and see its result, log out, and see a protected page send us to the login page.
 *
 * Determinism: serve catches up every job at start (catchUpDelayMs 0), so the test first waits
 * until the scheduler is idle; only then does it count points and press buttons. The page reloads
 * itself while the requested jobs run (meta refresh), so the test never reloads it by hand.
 */
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/backup/crypto/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { startServe, type RunningServe } from '../../src/server/serve.js';
import { FileAdminUserStore } from '../../src/web/auth/users.js';
import { createShopDb } from '../backup/shop-db.js';
import { ALICE, TEST_SCRYPT } from '../web/helpers.js';
import { schedulerSettled, writeShopFiles } from './env.js';

let serve: RunningServe;
let browser: Browser;
let url: string;
let dir: string;

beforeAll(async () => {
  // One folder for the whole file (tempDir() would be removed after the first test).
  dir = mkdtempSync(path.join(tmpdir(), 'safetynet-serve-browser-'));
  const { identity, recipient } = generateIdentity();
  mkdirSync(path.join(dir, 'keys'));
  writeFileSync(path.join(dir, 'keys/identity.txt'), `${identity}\n`, { mode: 0o600 });
  // No scheduled run may land in the test (the hourly incremental at hh:00 would add a point the
  // test did not ask for), so its slot moves to once a year; the catch-up and the button run it.
  const raw = {
    backup: {
      recipients: [recipient],
      identity: 'keys/identity.txt',
      timezone: 'Europe/Berlin',
      schedule: { incremental: '0 0 1 1 *' },
    },
  };
  const file = path.join(dir, 'safetynet.config.json');
  writeFileSync(file, JSON.stringify(raw));
  const config = resolveConfig(raw, { file, baseDir: dir, env: {} });
  createShopDb(config.database.path, 1000);
  writeShopFiles(dir);
  await new FileAdminUserStore(config.admin.users, { scrypt: TEST_SCRYPT }).add(ALICE.user, ALICE.password);

  serve = await startServe(config, { host: '127.0.0.1', port: 0, catchUpDelayMs: 0 });
  url = serve.url!;
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  // The first backups and a restore test run at start; wait for them before counting anything.
  await schedulerSettled(serve.scheduler);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Waits (without reloading: the page reloads itself) until `count()` reaches `n`. */
async function waitForCount(page: Page, selector: string, n: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    // A navigation (the self-reload) may be in flight; a failed count is just retried.
    const c = await page
      .locator(selector)
      .count()
      .catch(() => -1);
    if (c >= n) return;
    if (Date.now() > until) throw new Error(`${selector}: ${c} after ${timeoutMs} ms, wanted ${n}`);
    await page.waitForTimeout(100);
  }
}

describe('safetynet serve in Chromium: the Backups page', () => {
  it('log in, back up now and see the new points, run the restore test and see its result, log out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });

    await page.goto(url + '/backups');
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=user]', ALICE.user);
    await page.fill('input[name=password]', ALICE.password);
    await Promise.all([page.waitForURL(/\/backups$/), page.click('button[type=submit]')]);
    expect(await page.locator('h1').textContent()).toBe('Backups');
    expect(await page.locator('#backup-banner .banner-title').textContent()).toMatch(
      /Healthy|Needs attention/,
    );

    // Back up now: three new points (database, log store and files) appear at the top of the list.
    const rows = '#restore-points tr[data-point]';
    const before = await page
      .locator(rows)
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-point')));
    expect(before.length).toBeGreaterThanOrEqual(3);
    await Promise.all([page.waitForURL(/\/backups$/), page.click('#backup-now')]);
    expect(await page.locator('.flash').textContent()).toContain('Backup requested');
    await waitForCount(page, rows, before.length + 3);
    await waitForCount(page, '#requests li[data-state="done"]', 2);
    const after = await page
      .locator(rows)
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-point')));
    expect(after.slice(3)).toEqual(before);
    expect(await page.locator('#restore-points tr[data-point] .kind').first().textContent()).toMatch(
      /files|incremental/,
    );
    expect(await page.locator('#requests .badge.good').count()).toBe(2);
    // Done: the page stopped reloading itself.
    expect(await page.locator('meta[http-equiv=refresh]').count()).toBe(0);

    // Run the restore test: a second record appears at the top, passed, with its checks.
    const tests = '#restore-tests > li';
    expect(await page.locator(tests).count()).toBe(1);
    await Promise.all([page.waitForURL(/\/backups$/), page.click('#restore-test-now')]);
    await waitForCount(page, tests, 2);
    await waitForCount(page, '#requests li[data-job="restore-test"][data-state="done"]', 1);
    const newest = page.locator(tests).first().locator('details.run');
    expect(await newest.locator('summary .badge').textContent()).toBe('passed');
    expect(await newest.locator('table.checks').isVisible()).toBe(false);
    await newest.locator('summary').click();
    expect(await newest.locator('table.checks').isVisible()).toBe(true);
    const checks = await newest.locator('table.checks td[data-label="Check"]').allTextContents();
    expect(checks).toContain('PRAGMA integrity_check');
    expect(checks).toContain('sampled files restore with their SHA-256');
    expect(await newest.locator('table.checks .badge.bad').count()).toBe(0);

    // The actions are in the audit trail.
    await serve.logger.flush();
    const audit = (await serve.logger.store.search({ categories: ['admin'] }, { limit: 100 })).entries;
    expect(
      audit
        .filter((e) => String(e.details.action).endsWith('.now'))
        .map((e) => [e.details.action, e.details.outcome]),
    ).toEqual([
      ['restore-test.now', 'success'],
      ['backup.now', 'success'],
    ]);

    // Log out; the protected page now sends us to the login page.
    await Promise.all([page.waitForURL(/\/login\?bye=1/), page.click('#logout')]);
    await page.goto(url + '/backups');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/backups');
    expect(dialogs).toEqual([]);
    await context.close();
  }, 60_000);

  it('fits a phone-sized screen without JavaScript', async () => {
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 360, height: 740 },
      isMobile: true,
    });
    const page = await context.newPage();
    await page.goto(url + '/backups');
    await page.fill('input[name=user]', ALICE.user);
    await page.fill('input[name=password]', ALICE.password);
    await Promise.all([page.waitForURL(/\/backups$/), page.click('button[type=submit]')]);
    for (const d of await page.locator('details.run > summary').all()) await d.click({ timeout: 3000 });
    const widths = await page.evaluate<{ doc: number; view: number }>(
      '({ doc: document.documentElement.scrollWidth, view: document.documentElement.clientWidth })',
    );
    expect(widths.doc).toBeLessThanOrEqual(widths.view);
    // The tables became labelled cards (column headers hidden, labels shown per cell).
    expect(await page.locator('#restore-points thead').isVisible()).toBe(false);
    expect(await page.locator('#backup-now').isVisible()).toBe(true);
    await context.close();
  }, 30_000);
});
