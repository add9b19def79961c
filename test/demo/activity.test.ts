import { createHmac } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadConfig, type SafetynetConfig } from '../../src/config/index.js';
import { runActivity } from '../../src/demo/activity.js';
import { initDemo } from '../../src/demo/init.js';
import { invoiceRelPath } from '../../src/demo/invoice.js';
import { createRng } from '../../src/demo/rng.js';
import { DEMO_WEBHOOK_SECRET } from '../../src/demo/webhook.js';
import { createLogger, SqliteLogStore, type LogEntry, type Logger } from '../../src/log/index.js';
import { tempDir } from '../helpers/tmp.js';
import { pdfProblem } from './helpers.js';

const scrypt = { N: 2 ** 12, r: 8, p: 1 };

async function demo(): Promise<{ config: SafetynetConfig; logger: Logger }> {
  const dir = path.join(tempDir(), 'demo');
  await initDemo({ dir, seed: 11, scrypt, env: {}, sizes: { customers: 50, orders: 100, invoices: 10 } });
  const config = loadConfig({ configPath: path.join(dir, 'safetynet.config.json'), env: {} });
  const logger = await createLogger({ config, writer: 'inline' });
  return { config, logger };
}

async function entries(config: SafetynetConfig, since: number): Promise<LogEntry[]> {
  const store = await SqliteLogStore.open(config.logs.store.path);
  try {
    const page = await store.search({ since }, { limit: 1000 });
    return page.entries.reverse();
  } finally {
    await store.close();
  }
}

function orderCount(config: SafetynetConfig): number {
  const db = new Database(config.database.path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('demo activity', () => {
  it('writes orders into the shop database and every category into the log store', async () => {
    const { config, logger } = await demo();
    const start = Date.now();
    const before = orderCount(config);
    const report = await runActivity({ config, logger, rng: createRng(3), intervalMs: 0, count: 3, showcase: true });
    await logger.close();
    expect(report).toMatchObject({ orders: 3, paid: 2, failedPayments: 1, invoices: 2, stepErrors: 0, securityEvents: 1 });
    expect(orderCount(config)).toBe(before + 3);

    const log = await entries(config, start);
    const cats = new Set(log.map((e) => e.category));
    for (const c of ['order', 'inventory', 'webhook', 'payment', 'invoice', 'email', 'error', 'security']) {
      expect(cats.has(c), c).toBe(true);
    }

    // Webhooks: the raw body verbatim (the very text the shop stored in payments.raw_webhook),
    // the signature re-checkable against it, the proxy's Authorization header redacted.
    const db = new Database(config.database.path, { readonly: true });
    try {
      const hooks = log.filter((e) => e.category === 'webhook');
      expect(hooks).toHaveLength(3);
      for (const h of hooks) {
        const d = h.details as { eventId: string; rawBody: string; headers: Record<string, string> };
        const row = db.prepare('SELECT raw_webhook, order_id FROM payments WHERE event_id = ?').get(d.eventId) as {
          raw_webhook: string;
          order_id: number;
        };
        expect(d.rawBody).toBe(row.raw_webhook);
        expect(d.rawBody).not.toBe(JSON.stringify(JSON.parse(d.rawBody))); // pretty-printed, not re-serialised
        expect(h.order_id).toBe(String(row.order_id));
        expect(d.headers.authorization).toBe('[REDACTED]');
        const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(d.headers['stripe-signature']!)!;
        expect(createHmac('sha256', DEMO_WEBHOOK_SECRET).update(`${t}.${d.rawBody}`).digest('hex')).toBe(v1);
      }
      const stored = JSON.stringify(log);
      expect(stored).not.toContain('demo-proxy-password');
      expect(stored).not.toContain(Buffer.from('stripe-hooks:demo-proxy-password').toString('base64'));

      // The showcase: order 1 with a failed login, order 2 declined with an exception, order 3 an e-mail timeout.
      const security = log.filter((e) => e.category === 'security');
      expect(security).toHaveLength(1);
      expect(security[0]!.message).toMatch(/^login failed for "/);
      expect(security[0]!.details).toMatchObject({ action: 'login', outcome: 'failure', simulated: true });
      const declined = log.find((e) => e.category === 'payment' && e.level === 'warn')!;
      expect(declined.message).toMatch(/failed: card declined/);
      const status = db.prepare('SELECT status FROM orders WHERE id = ?').get(Number(declined.order_id)) as { status: string };
      expect(status.status).toBe('payment_failed');
      const error = log.find((e) => e.category === 'error')!;
      expect(error.level).toBe('error');
      expect(error.order_id).toBe(declined.order_id);
      expect(error.error_stack).toMatch(/\n\s+at (requestShippingLabel|formatCustomsDeclaration)/);
      expect(log.some((e) => e.category === 'email' && e.level === 'warn' && /SMTP timeout/.test(e.message))).toBe(true);

      // Each paid order has its invoice PDF on disk.
      const invoices = log.filter((e) => e.category === 'invoice');
      expect(invoices).toHaveLength(2);
      for (const inv of invoices) {
        const number = (inv.details as { invoice: string }).invoice;
        const file = path.join(config.baseDir, 'data/invoices', invoiceRelPath(number));
        expect(pdfProblem(readFileSync(file)), number).toBeNull();
      }
      expect(db.pragma('foreign_key_check')).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('stops between orders when its signal aborts, with every entry flushed', async () => {
    const { config, logger } = await demo();
    const stop = new AbortController();
    const start = Date.now();
    setTimeout(() => stop.abort(), 300);
    const report = await runActivity({ config, logger, rng: createRng(5), intervalMs: 40, signal: stop.signal });
    expect(Date.now() - start).toBeLessThan(5000);
    expect(report.orders).toBeGreaterThanOrEqual(2);
    await logger.close();
    const log = await entries(config, start);
    // Every finished order reached its e-mail entry (the last step): nothing was cut off.
    const emailed = new Set(log.filter((e) => e.category === 'email').map((e) => e.order_id));
    const placed = new Set(log.filter((e) => e.category === 'order' && /placed/.test(e.message)).map((e) => e.order_id));
    expect(placed.size).toBe(report.orders);
    expect([...placed].every((id) => emailed.has(id))).toBe(true);
  });

  it('logs a step that fails and carries on', async () => {
    const { config, logger } = await demo();
    // A file where the year folder of new invoices should be: writing the PDF fails (even as root).
    const yearDir = path.join(config.baseDir, 'data/invoices', String(new Date().getUTCFullYear()));
    rmSync(yearDir, { recursive: true, force: true });
    writeFileSync(yearDir, 'not a folder');
    const start = Date.now();
    const report = await runActivity({ config, logger, rng: createRng(8), intervalMs: 0, count: 3 });
    await logger.close();
    expect(report.orders + report.stepErrors).toBe(3);
    expect(report.stepErrors).toBeGreaterThan(0);
    const errors = (await entries(config, start)).filter((e) => e.category === 'error' && /demo shop step failed/.test(e.message));
    expect(errors).toHaveLength(report.stepErrors);
    expect(errors[0]!.error_stack).toBeTruthy();
  });
});
