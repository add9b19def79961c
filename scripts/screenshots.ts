/**
 * Takes the README's screenshots of the admin panel from a demo-like instance:
 *
 *   npx tsx scripts/screenshots.ts [--out docs/screenshots] [--keep]
 *
 * In a temporary folder it builds the demo (`demo init`: sample shop database, invoices, product
 * images, age identity, admin account), starts `safetynet serve` in this process (scheduler +
 * panel on 127.0.0.1, a random port; the first backups and a restore test run at start), runs
 * the simulated shop for a few orders, takes another database and files point, a disaster-recovery
 * drill and a restore test, runs a few more orders (entries of every category through the logger,
 * including a declined card, an exception with a stack, a failed e-mail and a failed login), then
 * opens the panel in Debian's headless Chromium (playwright-core) and saves:
 *
 *   logs.png          the Logs page, desktop (1280x800)
 *   backups.png       the Backups page, desktop (1280x800)
 *   logs-phone.png    the Logs page on a phone (390x844 at 2x), one entry opened
 *   backups-phone.png the Backups page on a phone (390x844 at 2x)
 *
 * With --full, also whole-page pictures and the Backups page's sections on a phone, for reviewing
 * the layout; the README uses the four above.
 * The folder is removed afterwards unless --keep.
 */
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../test/helpers/chromium.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runDrill } from '../src/backup/drill.js';
import { loadConfig } from '../src/config/index.js';
import { runActivity } from '../src/demo/activity.js';
import { initDemo } from '../src/demo/init.js';
import { DEMO_ADMIN_USER } from '../src/demo/layout.js';
import { createRng } from '../src/demo/rng.js';
import type { Scheduler } from '../src/schedule/scheduler.js';
import { startServe } from '../src/server/serve.js';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'docs/screenshots' },
    keep: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
  },
});
const outDir = path.resolve(values.out!);

/** Waits until no job runs and none is due. */
async function settled(scheduler: Scheduler): Promise<void> {
  for (const until = Date.now() + 120_000; Date.now() < until;) {
    const now = Date.now();
    if (!scheduler.running() && !scheduler.nextRuns().some((n) => n.at !== null && Date.parse(n.at) <= now))
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the scheduler did not become idle within 2 minutes');
}

async function logIn(page: Page, url: string, password: string, to: string): Promise<void> {
  await page.goto(url + to);
  await page.fill('input[name=user]', DEMO_ADMIN_USER);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => u.pathname === to), page.click('button[type=submit]')]);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'safetynet-screenshots-'));
  let browser: Browser | undefined;
  let stop: (() => Promise<void>) | undefined;
  try {
    const report = await initDemo({ dir, seed: 20261126, env: {} });
    if (!report.admin.created) throw new Error('demo init did not create the admin account');
    const password = report.admin.password;
    const config = loadConfig({ configPath: report.configFile, cwd: dir, env: {} });

    const serve = await startServe(config, { host: '127.0.0.1', port: 0, catchUpDelayMs: 0 });
    stop = () => serve.stop();
    const url = serve.url!;
    process.stdout.write(`serve at ${url}; first backups and restore test …\n`);
    await settled(serve.scheduler);

    // Orders first (so the next backup carries new data), then a backup, a drill and a restore
    // test, then the showcase orders (a declined card, an exception, a failed e-mail, a failed
    // login), so the top of the Logs page shows the shop at work rather than the backup jobs.
    process.stdout.write('shop activity …\n');
    await runActivity({ config, logger: serve.logger, rng: createRng(7), intervalMs: 200, count: 8 });
    await serve.logger.system.info('configuration reloaded: 3 file sets, schedule unchanged', {
      details: { fileSets: config.backup.files.map((f) => f.name) },
    });

    process.stdout.write('another backup, a drill and a restore test …\n');
    serve.scheduler.trigger('incremental');
    serve.scheduler.trigger('files');
    await settled(serve.scheduler);
    await runDrill(serve.deps, { trigger: 'screenshots' });
    serve.scheduler.trigger('restore-test');
    await settled(serve.scheduler);

    process.stdout.write('more shop activity …\n');
    await runActivity({
      config,
      logger: serve.logger,
      rng: createRng(8),
      intervalMs: 300,
      count: 3,
      showcase: true,
    });
    await serve.logger.flush();

    browser = await launchChromium();
    mkdirSync(outDir, { recursive: true });
    const shot = async (page: Page, name: string, fullPage = false) => {
      await page.screenshot({ path: path.join(outDir, name), fullPage });
      process.stdout.write(`saved ${path.join(values.out!, name)}\n`);
    };

    const desktop = await browser.newContext({ viewport: DESKTOP });
    const page = await desktop.newPage();
    await logIn(page, url, password, '/logs');
    await shot(page, 'logs.png');
    if (values.full) await shot(page, 'logs-full.png', true);
    await page.goto(url + '/backups');
    await shot(page, 'backups.png');
    if (values.full) {
      for (const d of await page.locator('#restore-tests details.run > summary').all()) await d.click();
      for (const d of await page.locator('#drills details.run > summary').all()) await d.click();
      await shot(page, 'backups-full.png', true);
    }
    await desktop.close();

    const phone = await browser.newContext({
      viewport: PHONE,
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const mobile = await phone.newPage();
    await logIn(mobile, url, password, '/logs');
    // "Everything about one order": the order of the newest webhook, its webhook opened (raw payload).
    await mobile.goto(url + '/logs?category=webhook');
    const order = await mobile.locator('details.entry .order-tag').first().textContent();
    await mobile.goto(url + `/logs?order=${encodeURIComponent(order!.replace(/^order /, ''))}`);
    const webhook = mobile
      .locator('details.entry', { has: mobile.locator('.cat', { hasText: 'webhook' }) })
      .first();
    await webhook.locator(':scope > summary').click();
    // Start the picture at the results (the filter form fills a phone's first screen).
    await mobile.locator('.summary-bar').evaluate((el) => el.scrollIntoView());
    await shot(mobile, 'logs-phone.png');
    await mobile.goto(url + '/backups');
    await shot(mobile, 'backups-phone.png');
    if (values.full) {
      for (const d of await mobile.locator('details.run > summary').all()) await d.click();
      for (const id of [
        'last-backups',
        'jobs',
        'restore-points',
        'restore-tests',
        'drills',
        'restore-help',
      ]) {
        await mobile.locator(`#${id}`).screenshot({ path: path.join(outDir, `phone-${id}.png`) });
      }
    }
    await phone.close();
  } finally {
    await browser?.close();
    await stop?.();
    if (values.keep) process.stdout.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`screenshots: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
