/**
 * The package as a shop imports it: `import … from 'safetynet'` (the built dist/, through
 * package.json "exports"), logging and a backup round trip through the public API only.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers/tmp.js';
import { createShopDb } from './backup/shop-db.js';

describe('the safetynet package', () => {
  it('logs and backs up through its public entry point', async () => {
    const sn = await import('safetynet');
    const dir = tempDir();
    const { identity, recipient } = (await import('../src/backup/crypto/index.js')).generateIdentity();
    writeFileSync(path.join(dir, 'key.txt'), identity + '\n', { mode: 0o600 });
    mkdirSync(path.join(dir, 'data', 'invoices'), { recursive: true });
    writeFileSync(path.join(dir, 'data', 'invoices', 'INV-1.pdf'), '%PDF-1.4 one');
    createShopDb(path.join(dir, 'data', 'shop.sqlite'), 500);
    const config = sn.resolveConfig(
      {
        backup: {
          recipients: [recipient],
          identity: 'key.txt',
          files: [{ name: 'invoices', path: 'data/invoices' }],
        },
      },
      { file: null, baseDir: dir, env: {} },
    );
    const log = await sn.createLogger({ config });
    const id = await log.order.info('order placed', { orderId: 7, details: { total: 12.5 } });
    expect(id).toMatch(/^\d+$/);
    await log.close();

    const deps = await sn.backupDepsFromConfig(config);
    try {
      const r = await sn.backupAll(deps);
      expect(r.database.kind).toBe('full');
      expect(r.files.entry.set).toBe(r.set);
      const restored = await sn.restoreDatabase(deps, { to: path.join(dir, 'restored.sqlite') });
      // The default check is quick (header, schema, row counts against the manifest).
      expect(restored.facts.check).toBe('quick');
      expect(restored.tables).toEqual(restored.expectedTables);
      const status = await sn.buildStatus(deps);
      expect(status.last.full?.id).toBe(r.database.entry.id);
    } finally {
      await deps.repo.close();
      await deps.logger.close();
    }
  });
});
