/**
 * The panel in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
 * against the real server listening on 127.0.0.1 with a random port.
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, makePanel, type Panel } from './helpers.js';

const XSS = '<script>window.__pwned=1</script>';
const XSS_IMG = '<img src=x onerror="window.__pwned=3">';

let panel: Panel;
let browser: Browser;

beforeAll(async () => {
  // Counting stops after 3 matching entries, so a text with more shows "at least" and the link.
  panel = await makePanel({ listen: true, now: Date.UTC(2026, 10, 25, 9, 0, 0), countLimit: 3 });
  expect(panel.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(panel.url).not.toMatch(/:3000$/);
  const log = panel.logger;
  await log.order.info('order placed', { orderId: 1042, details: { total: 59.9 } });
  panel.clock.advance(60_000);
  await log.webhook({
    provider: 'stripe',
    eventId: 'evt_1',
    rawBody: '{"id":"evt_1","type":"payment_intent.succeeded"}',
    orderId: 1042,
  });
  panel.clock.advance(60_000);
  await log.payment.warn('card declined, retrying', { orderId: 1042, details: { code: 'card_declined' } });
  panel.clock.advance(60_000);
  await log.payment.info('payment captured', { orderId: 1042 });
  panel.clock.advance(60_000);
  await log.inventory.info('stock moved', { orderId: 7, details: { sku: 'A-1' } });
  panel.clock.advance(60_000);
  await log.email.error(`bounce ${XSS}`, {
    orderId: 666,
    details: { subject: XSS, body: XSS_IMG, [XSS]: 'in a key' },
  });
  panel.clock.advance(60_000);
  // Launched fresh: playwright gives every launch a new temporary profile (user-data-dir).
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await panel?.close();
});

/** A fresh context (own cookies) that fails the test on any JavaScript dialog. */
async function newPage(
  options: Parameters<Browser['newContext']>[0] = {},
): Promise<{ context: BrowserContext; page: Page; dialogs: string[] }> {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return { context, page, dialogs };
}

async function logIn(page: Page, startAt = '/logs'): Promise<void> {
  await page.goto(panel.url + startAt);
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('input[name=user]', ALICE.user);
  await page.fill('input[name=password]', ALICE.password);
  await Promise.all([page.waitForURL(/\/logs/), page.click('button[type=submit]')]);
}

async function categoriesShown(page: Page): Promise<string[]> {
  return page.locator('#entries details.entry .cat').allTextContents();
}

describe('admin panel in Chromium', () => {
  it('log in, search by category and by order, open an entry, export, log out', async () => {
    const { context, page, dialogs } = await newPage();
    await logIn(page, '/logs?category=payment');
    // The login kept where we were going.
    expect(page.url()).toBe(`${panel.url}/logs?category=payment`);
    expect(await page.locator('header.top').textContent()).toContain('Signed in as alice');

    // By category, through the form.
    await page.goto(panel.url + '/logs');
    await page.check('input[name=category][value=payment]');
    await page.check('input[name=category][value=webhook]');
    await Promise.all([page.waitForURL(/category=payment/), page.click('#search')]);
    expect(new URL(page.url()).searchParams.getAll('category').sort()).toEqual(['payment', 'webhook']);
    expect(await categoriesShown(page)).toEqual(['payment', 'payment', 'webhook']);

    // The back button returns to the unfiltered page (the filter lives in the URL).
    await page.goBack();
    expect(new URL(page.url()).search).toBe('');
    expect((await categoriesShown(page)).length).toBeGreaterThan(3);

    // By order.
    await page.fill('input[name=order]', '1042');
    await Promise.all([page.waitForURL(/order=1042/), page.click('#search')]);
    expect((await categoriesShown(page)).sort()).toEqual(['order', 'payment', 'payment', 'webhook']);

    // Open an entry: the webhook, with its raw payload.
    const webhook = page.locator('details.entry', { has: page.locator('.cat', { hasText: 'webhook' }) });
    expect(await webhook.locator('.raw-payload').isVisible()).toBe(false);
    await webhook.locator(':scope > summary').click();
    expect(await webhook.locator('.raw-payload').isVisible()).toBe(true);
    expect(await webhook.locator('.raw-payload').textContent()).toBe(
      '{"id":"evt_1","type":"payment_intent.succeeded"}',
    );

    // "All entries for this order" from the inventory entry.
    await page.goto(panel.url + '/logs?category=inventory');
    const inv = page.locator('details.entry').first();
    await inv.locator(':scope > summary').click();
    await Promise.all([page.waitForURL(/order=7/), inv.locator('a.order-link').click()]);
    expect(await categoriesShown(page)).toEqual(['inventory']);

    // Export the current filter.
    await page.goto(panel.url + '/logs?order=1042');
    const [ndjson] = await Promise.all([page.waitForEvent('download'), page.click('#export-ndjson')]);
    expect(ndjson.suggestedFilename()).toMatch(/^safetynet-logs-\d{8}T\d{6}Z\.ndjson$/);
    const lines = readFileSync((await ndjson.path())!, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((e: { order_id: string }) => e.order_id)).toEqual(['1042', '1042', '1042', '1042']);
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    const csvText = readFileSync((await csv.path())!, 'utf8');
    expect(csvText.replace(/^\uFEFF/, '').split('\r\n')[0]).toBe(
      'id,timestamp,level,category,order_id,message,details,error_stack',
    );
    expect(csvText).toContain('"card declined, retrying"');

    // Log out; a protected page then sends us to the login page.
    await Promise.all([page.waitForURL(/\/login\?bye=1/), page.click('#logout')]);
    expect(await page.locator('.flash').textContent()).toBe('You are logged out.');
    await page.goto(panel.url + '/logs?order=1042');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/logs?order=1042');
    expect(dialogs).toEqual([]);
    await context.close();
  });

  it('<script> in messages and details renders as text and never runs', async () => {
    const { context, page, dialogs } = await newPage();
    await logIn(page, '/logs?category=email');
    const entry = page.locator('details.entry').first();
    expect(await entry.locator('.msg').textContent()).toBe(`bounce ${XSS}order 666`);
    await entry.locator(':scope > summary').click();
    const details = JSON.parse((await entry.locator('pre.details').textContent())!);
    expect(details).toEqual({ subject: XSS, body: XSS_IMG, [XSS]: 'in a key' });
    // The whole page: exactly one script element (ours), no image from the payload, nothing ran.
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();

    // Also on the single-entry page and the search that echoes the payload back into the form.
    await entry.locator('dd a').first().click();
    await page.waitForURL(/\/logs\/entry\/\d+/);
    expect(await page.locator('details.entry[open] pre.message').textContent()).toBe(`bounce ${XSS}`);
    await page.goto(
      panel.url +
        '/logs?q=' +
        encodeURIComponent(XSS) +
        '&order=' +
        encodeURIComponent('"><script>window.__pwned=4</script>'),
    );
    expect(await page.locator('input[name=order]').inputValue()).toBe('"><script>window.__pwned=4</script>');
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    await context.close();
  });

  it('works without JavaScript and fits a phone-sized screen', async () => {
    const { context, page } = await newPage({
      javaScriptEnabled: false,
      viewport: { width: 360, height: 740 },
      isMobile: true,
    });
    await logIn(page);
    await page.fill('input[name=order]', '1042');
    await page.selectOption('select[name=level]', 'warn');
    await Promise.all([page.waitForURL(/level=warn/), page.click('#search')]);
    expect(await categoriesShown(page)).toEqual(['payment']);
    const entry = page.locator('details.entry').first();
    await entry.locator(':scope > summary').click();
    expect(await entry.locator('pre.details').isVisible()).toBe(true);
    // Nothing makes the page itself scroll sideways (long JSON scrolls inside its own box).
    await page.goto(panel.url + '/logs');
    for (const d of await page.locator('details.entry > summary').all()) await d.click();
    const widths = await page.evaluate<{ doc: number; view: number }>(
      '({ doc: document.documentElement.scrollWidth, view: document.documentElement.clientWidth })',
    );
    expect(widths.doc).toBeLessThanOrEqual(widths.view);

    // A bad filter: the page with a message and HTTP 400.
    const res = await page.goto(panel.url + '/logs?since=not-a-time');
    expect(res!.status()).toBe(400);
    expect(await page.locator('#filter-errors').textContent()).toContain(
      '"From": "not-a-time" is not a time',
    );
    await context.close();
  });

  it('partial counts say "at least", and the exact counts link works without JavaScript on a phone', async () => {
    for (let i = 0; i < 6; i++) await panel.logger.inventory.info(`parcel ${i} packed`);
    const { context, page } = await newPage({
      javaScriptEnabled: false,
      viewport: { width: 360, height: 740 },
      isMobile: true,
    });
    await logIn(page, '/logs?q=parcel');
    expect(await page.locator('.counts strong').textContent()).toMatch(/^at least \d$/);
    const widths = () =>
      page.evaluate<{ doc: number; view: number }>(
        '({ doc: document.documentElement.scrollWidth, view: document.documentElement.clientWidth })',
      );
    let w = await widths();
    expect(w.doc).toBeLessThanOrEqual(w.view);
    await Promise.all([page.waitForURL(/counts=exact/), page.click('#exact-counts')]);
    expect(await page.locator('.counts strong').textContent()).toBe('6');
    expect(await page.locator('#exact-counts').count()).toBe(0);
    w = await widths();
    expect(w.doc).toBeLessThanOrEqual(w.view);
    await context.close();
  });
});
