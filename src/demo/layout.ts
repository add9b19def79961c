/**
 * Where the demo keeps everything, and the config file `demo init` writes. Paths in the config are
 * relative to its folder, so the demo folder can be moved as a whole.
 */
import type { SafetynetConfig } from '../config/types.js';
import * as path from 'node:path';

export const DEMO_DIR = 'demo';
export const DEMO_CONFIG_FILE = 'safetynet.config.json';
/** The identity, beside the other data files and outside the repository (`data/backups`). */
export const DEMO_IDENTITY_FILE = 'data/backup-identity.txt';
export const DEMO_ADMIN_USER = 'admin';

/** Folders every demo has (created before the config is loaded: its file sets must exist). */
export const DEMO_FOLDERS = ['data', 'data/invoices', 'data/images', 'config'];

/**
 * The demo schedule: the spec's daily full backup at 03:00, but an incremental every 5 minutes and
 * files every 15, so the Backups page fills up while someone looks at it, and a daily restore test.
 */
export const DEMO_SCHEDULE = {
  full: '0 3 * * *',
  incremental: '*/5 * * * *',
  files: '*/15 * * * *',
  retention: '0 5 * * *',
  logRetention: '15 5 * * *',
  restoreTest: '0 4 * * *',
};

/** The demo's `safetynet.config.json`, as a JSON value. */
export function demoConfigJson(recipient: string, timezone: string): Record<string, unknown> {
  return {
    logs: {
      store: { type: 'sqlite', path: 'data/logs.sqlite' },
      spool: 'data/log-spool',
    },
    database: { type: 'sqlite', path: 'data/shop.sqlite' },
    backup: {
      repository: 'data/backups',
      stateDir: 'data/backup-state',
      recipients: [recipient],
      identity: DEMO_IDENTITY_FILE,
      timezone,
      schedule: DEMO_SCHEDULE,
      files: [
        { name: 'invoices', path: 'data/invoices' },
        { name: 'images', path: 'data/images' },
        { name: 'config', path: '.', include: [DEMO_CONFIG_FILE, 'config/**'] },
      ],
    },
    admin: { host: '127.0.0.1', port: 3000, users: 'data/admin-users.json' },
  };
}

/** The machine's IANA time zone (what the demo schedules run in). */
export function machineTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** The folder of the file set `name`, or `fallback` (relative to the config's folder) without one. */
export function fileSetPath(config: SafetynetConfig, name: string, fallback: string): string {
  return config.backup.files.find((f) => f.name === name)?.path ?? path.join(config.baseDir, fallback);
}

/** The admin panel's address as a browser URL (a wildcard host is shown as 127.0.0.1). */
export function panelUrl(config: SafetynetConfig): string {
  const wildcard = config.admin.host === '0.0.0.0' || config.admin.host === '::';
  const host = wildcard ? '127.0.0.1' : config.admin.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}/`;
}

/** Sample shop configuration files (the `config` file set), written once and never overwritten. */
export const SAMPLE_SHOP_CONFIG: Record<string, string> = {
  'config/shop.json':
    JSON.stringify(
      {
        name: 'Linden & Oak Homeware',
        currency: 'EUR',
        vatRate: 0.19,
        orderEmailFrom: 'orders@shop.example',
        lowStockThreshold: 5,
      },
      null,
      2,
    ) + '\n',
  'config/shipping.json':
    JSON.stringify(
      {
        carrier: 'DHL',
        zones: [
          { countries: ['DE'], priceCents: 490, freeFromCents: 5000 },
          { countries: ['AT', 'NL', 'BE', 'FR', 'DK'], priceCents: 990, freeFromCents: 10000 },
        ],
      },
      null,
      2,
    ) + '\n',
  'config/email-templates.json':
    JSON.stringify(
      {
        'order-confirmation': { subject: 'Your order #{{orderId}}', template: 'order-confirmation.html' },
        'payment-failed': { subject: 'Your payment for order #{{orderId}} did not go through', template: 'payment-failed.html' },
        'shipping-confirmation': { subject: 'Order #{{orderId}} is on its way', template: 'shipping.html' },
      },
      null,
      2,
    ) + '\n',
};
