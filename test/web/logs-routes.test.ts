import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/log/index.js';
import { csvField as csvCellDefused } from '../../src/web/logs/export.js';
import { makePanel, type Panel } from './helpers.js';

let panel: Panel;
let session: string;
const T0 = Date.UTC(2026, 10, 20, 8, 0, 0);
const XSS = '<script>window.__pwned=1</script>';

/** Entry ids (data-less) in the order the page lists them. */
function ids(body: string): string[] {
  return [...body.matchAll(/<details class="entry" id="e-(\d+)"/g)].map((m) => m[1]!);
}

/** A small RFC 4180 reader for checking the CSV export. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += c;
    }
  }
  return rows;
}

beforeAll(async () => {
  panel = await makePanel({ now: T0 });
  const log = panel.logger;
  // 1,100 inventory entries so an export spans more than one store page (1,000).
  for (let i = 0; i < 1100; i++) {
    panel.clock.advance(1000);
    void log.inventory.info(`stock moved ${i}`, { details: { sku: `SKU-${i}`, n: i } });
  }
  panel.clock.set(Date.UTC(2026, 10, 25, 9, 0, 0));
  await log.order.info('order placed', { orderId: 1042, details: { total: 59.9 } });
  panel.clock.advance(60_000);
  await log.webhook({
    provider: 'stripe',
    eventId: 'evt_1',
    rawBody: '{"id":"evt_1","amount":5990,"note":"<b>hi</b>"}',
    orderId: 1042,
  });
  panel.clock.advance(60_000);
  await log.payment.warn('card declined, retrying', { orderId: 1042, details: { code: 'card_declined' } });
  panel.clock.advance(60_000);
  await log.payment.error('payment failed for good', { orderId: 1042 });
  panel.clock.advance(60_000);
  await log.error(new Error('invoice renderer crashed'), { orderId: 1043 });
  panel.clock.advance(60_000);
  await log.email.critical(`mail bounce ${XSS}`, {
    orderId: '"><script>window.__pwned=2</script>',
    details: { subject: XSS, '<img src=x onerror=alert(1)>': 'key too', csv: '=HYPERLINK("http://evil")' },
  });
  panel.clock.set(Date.UTC(2026, 10, 26, 12, 0, 0));
  ({ session } = await panel.login());
});

afterAll(async () => {
  await panel?.close();
});

describe('search', () => {
  it('filters by categories (several), newest first, 50 per page', async () => {
    const res = await panel.get('/logs?category=payment&category=webhook', session);
    expect(res.statusCode).toBe(200);
    const found = ids(res.body);
    expect(found).toHaveLength(3);
    const entries = await Promise.all(found.map((id) => panel.logger.store.get(id)));
    expect(entries.map((e) => e!.category)).toEqual(['payment', 'payment', 'webhook']);
    expect(res.body).toMatch(/<input\s+type="checkbox"\s+name="category"\s+value="payment"\s+checked/);
  });

  it('filters by minimum and by exact level, and counts per level for the filter', async () => {
    const min = await panel.get('/logs?level=warn&order=1042', session);
    expect(ids(min.body)).toHaveLength(2);
    const exact = await panel.get('/logs?level=error&match=exact', session);
    const exactEntries = await Promise.all(ids(exact.body).map((id) => panel.logger.store.get(id)));
    expect(exactEntries.map((e) => e!.level)).toEqual(['error', 'error']);
    // Counts ignore the level part, so they show the whole order.
    expect(min.body).toMatch(/class="count-info"[^>]*>info&nbsp;2</);
    expect(min.body).toMatch(/class="count-warn"[^>]*>warn&nbsp;1</);
    expect(min.body).toMatch(/class="count-error"[^>]*>error&nbsp;1</);
    expect(min.body).toMatch(/<strong>4<\/strong> matching/);
  });

  it('everything about one order, across categories, with a link from each entry', async () => {
    const res = await panel.get('/logs?order=1042', session);
    const entries = await Promise.all(ids(res.body).map((id) => panel.logger.store.get(id)));
    expect(entries.map((e) => e!.category).sort()).toEqual(['order', 'payment', 'payment', 'webhook']);
    expect(res.body).toMatch(
      /<a class="order-link" href="\/logs\?order=1042"\s*>all entries for this order<\/a\s*>/,
    );
  });

  it('by text and by time range (UTC)', async () => {
    const text = await panel.get('/logs?q=declined', session);
    expect(ids(text.body)).toHaveLength(1);
    const range = await panel.get('/logs?since=2026-11-25%2009:01&until=2026-11-25%2009:03', session);
    const entries = await Promise.all(ids(range.body).map((id) => panel.logger.store.get(id)));
    expect(entries.map((e) => e!.timestamp)).toEqual([
      '2026-11-25T09:02:00.000Z',
      '2026-11-25T09:01:00.000Z',
    ]);
    expect(range.body).toContain('All times are UTC.');
  });

  it('pages with a keyset cursor in the URL: Older links walk every entry exactly once', async () => {
    let url = '/logs?category=inventory';
    const seen: string[] = [];
    let pages = 0;
    while (url && pages < 30) {
      const res = await panel.get(url, session);
      expect(res.statusCode).toBe(200);
      seen.push(...ids(res.body));
      pages++;
      const older = /<a href="([^"]+)" id="older"/.exec(res.body);
      url = older ? older[1]!.replace(/&amp;/g, '&') : '';
      if (pages > 1) expect(res.body).toContain('id="newest"');
    }
    expect(pages).toBe(22);
    expect(seen).toHaveLength(1100);
    expect(new Set(seen).size).toBe(1100);
    expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));
  });

  it('shows the details, the raw webhook payload and the stack trace', async () => {
    const res = await panel.get('/logs?order=1042&category=webhook', session);
    expect(res.body).toContain('Raw webhook payload');
    expect(res.body).toContain(
      '<pre class="wrap raw-payload">{&quot;id&quot;:&quot;evt_1&quot;,&quot;amount&quot;:5990,&quot;note&quot;:&quot;&lt;b&gt;hi&lt;/b&gt;&quot;}</pre>',
    );
    const err = await panel.get('/logs?category=error', session);
    expect(err.body).toMatch(
      /<h4>Stack trace<\/h4>\s*<pre class="stack">Error: invoice renderer crashed\n\s+at /,
    );
    const order = await panel.get('/logs?category=order', session);
    expect(order.body).toMatch(/<pre class="details">\{\n {2}&quot;total&quot;: 59.9\n\}<\/pre>/);
  });

  it('every view is an admin entry with the filter (PCI DSS 10.2: access to audit logs)', async () => {
    await panel.get('/logs?category=payment&q=declined', session);
    const [last] = await panel.entries('admin');
    expect(last!.details).toMatchObject({
      actor: 'alice',
      action: 'logs.search',
      outcome: 'success',
      target: { categories: ['payment'], text: 'declined' },
      results: 1,
    });
  });
});

describe('untrusted content is escaped', () => {
  it('script in message, details, keys and order id renders as text', async () => {
    for (const url of ['/logs?category=email', '/logs?q=bounce']) {
      const res = await panel.get(url, session);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('<script>window');
      expect(res.body).not.toContain('<img src=x');
      expect(res.body).toContain('mail bounce &lt;script&gt;window.__pwned=1&lt;/script&gt;');
      expect(res.body).toContain('&quot;&lt;img src=x onerror=alert(1)&gt;&quot;: &quot;key too&quot;');
      expect(res.body).toContain('href="/logs?order=%22%3E%3Cscript%3Ewindow.__pwned%3D2%3C%2Fscript%3E"');
      // The only script tag is our own static one.
      expect(res.body.match(/<script/g)).toHaveLength(1);
    }
    const [entry] = (await panel.logger.store.search({ categories: ['email'] })).entries;
    const page = await panel.get(`/logs/entry/${entry!.id}`, session);
    expect(page.statusCode).toBe(200);
    expect(page.body.match(/<script/g)).toHaveLength(1);
    expect(page.body).toContain('<details class="entry" id="e-' + entry!.id + '" open>');
  });

  it('the filter values echoed into the form are escaped too', async () => {
    const res = await panel.get(
      `/logs?q=${encodeURIComponent('"><script>x</script>')}&order=${encodeURIComponent('<b>')}`,
      session,
    );
    expect(res.body).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
    expect(res.body).toContain('value="&lt;b&gt;"');
    expect(res.body.match(/<script/g)).toHaveLength(1);
  });
});

describe('bad filters', () => {
  it.each([
    ['/logs?level=loud', '&quot;loud&quot; is not a level'],
    ['/logs?category=nope', '&quot;nope&quot; is not a log category'],
    ['/logs?since=last%20tuesday', 'is not a time'],
    ['/logs?since=2026-11-26&until=2026-11-01', 'must be later than'],
    ['/logs?q=%25%25%25', 'has no word to search for'],
    ['/logs?cursor=bm90LWEtY3Vyc29y', 'page position in the link is damaged'],
    ['/logs?cursor=%3Cscript%3E', 'page position in the link is damaged'],
    ['/logs?level=warn&level=error', 'given 2 times'],
  ])('%s → 400 with an inline message', async (url, message) => {
    const res = await panel.get(url, session);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('id="filter-errors"');
    expect(res.body).toContain(message);
    expect(res.body).toContain('<form class="filters"');
  });

  it('is audited as a failed search', async () => {
    await panel.get('/logs?level=loud', session);
    const [last] = await panel.entries('admin');
    expect(last!.details).toMatchObject({ action: 'logs.search', outcome: 'failure' });
    expect(last!.level).toBe('warn');
  });

  it('entries that do not exist are a 404 page', async () => {
    expect((await panel.get('/logs/entry/99999999', session)).statusCode).toBe(404);
    expect((await panel.get('/logs/entry/abc', session)).statusCode).toBe(404);
  });
});

describe('export', () => {
  it('NDJSON: every page of the filter, streamed, newest first, audited start and end', async () => {
    const res = await panel.get('/logs/export?format=ndjson&category=inventory&cursor=ignored', session);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(
      /^attachment; filename="safetynet-logs-20261126T120000Z\.ndjson"$/,
    );
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as LogEntry);
    expect(lines).toHaveLength(1100);
    expect(lines[0]).toMatchObject({
      category: 'inventory',
      message: 'stock moved 1099',
      details: { sku: 'SKU-1099', n: 1099 },
    });
    expect(lines.at(-1)!.message).toBe('stock moved 0');
    const admin = (await panel.entries('admin')).filter((e) => e.details.action === 'logs.export');
    expect(admin.slice(0, 2).map((e) => [e.details.outcome, e.details.rows])).toEqual([
      ['success', 1100],
      ['started', undefined],
    ]);
  });

  it('CSV: RFC 4180 quoting, formula cells defused, one row per entry', async () => {
    const res = await panel.get('/logs/export?format=csv&order=1042', session);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const rows = parseCsv(res.body.replace(/^\uFEFF/, ''));
    expect(rows[0]).toEqual([
      'id',
      'timestamp',
      'level',
      'category',
      'order_id',
      'message',
      'details',
      'error_stack',
    ]);
    expect(rows).toHaveLength(5);
    expect(rows[2]![5]).toBe('card declined, retrying');
    expect(JSON.parse(rows[2]![6]!)).toEqual({ code: 'card_declined' });
    const email = await panel.get('/logs/export?format=csv&category=email', session);
    const emailRow = parseCsv(email.body.replace(/^\uFEFF/, ''))[1]!;
    expect(emailRow[4]).toBe('"><script>window.__pwned=2</script>');
    expect(JSON.parse(emailRow[6]!).csv).toBe('=HYPERLINK("http://evil")');
    expect(csvCellDefused('=1+1')).toBe("'=1+1");
  });

  it('an unknown format or a bad filter is a 400 page, not a download', async () => {
    const bad = await panel.get('/logs/export?format=xml', session);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Export format &quot;xml&quot; is unknown; use ndjson or csv.');
    const badFilter = await panel.get('/logs/export?format=csv&level=nope', session);
    expect(badFilter.statusCode).toBe(400);
    expect(badFilter.headers['content-disposition']).toBeUndefined();
  });
});

describe('per-level counts with a limit', () => {
  let small: Panel;
  let cookie: string;
  beforeAll(async () => {
    small = await makePanel({ now: T0, countLimit: 100 });
    for (let i = 0; i < 300; i++) {
      small.clock.advance(1000);
      if (i % 10) void small.logger.inventory.info(`stock moved ${i}`);
      else void small.logger.inventory.warn(`stock moved ${i}`);
    }
    await small.logger.flush();
    ({ session: cookie } = await small.login());
  });
  afterAll(async () => {
    await small?.close();
  });

  it('says "at least" when counting stopped, and links to exact counts that count everything', async () => {
    const res = await small.get('/logs?q=stock', cookie);
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/<strong>at least \d+<\/strong> matching/);
    expect(res.body).toMatch(/class="count-warn"[^>]*>warn&nbsp;<abbr title="at least">≥<\/abbr>&nbsp;\d+</);
    const link = /<a\s+id="exact-counts"\s+href="([^"]+)"/.exec(res.body)![1]!.replace(/&amp;/g, '&');
    expect(link).toBe('/logs?q=stock&counts=exact');
    const exact = await small.get(link, cookie);
    expect(exact.statusCode).toBe(200);
    expect(exact.body).toMatch(/<strong>300<\/strong> matching/);
    expect(exact.body).toMatch(/class="count-info"[^>]*>info&nbsp;270</);
    expect(exact.body).toMatch(/class="count-warn"[^>]*>warn&nbsp;30</);
    expect(exact.body).not.toContain('id="exact-counts"');
    // Paging on from exact counts goes back to quick counts (the link does not carry it).
    expect(exact.body).not.toMatch(/href="[^"]*counts=exact/);
  });

  it('refuses an unknown way of counting with a 400 that names it', async () => {
    const res = await small.get('/logs?counts=roughly', cookie);
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('&quot;roughly&quot; is not a way of counting');
  });
});
