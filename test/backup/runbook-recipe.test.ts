/**
 * docs/disaster-recovery.md promises that a database can be rebuilt with age, zstd, jq and python3
 * alone. This test follows the recipe exactly: it takes the apply script from the runbook itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { backupDatabase } from '../../src/backup/database.js';
import type { SqliteManifest } from '../../src/backup/repo/types.js';
import { createTestEnv, type TestEnv } from './env.js';

const envs: TestEnv[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) await e.close();
});

const runbook = readFileSync(
  fileURLToPath(new URL('../../docs/disaster-recovery.md', import.meta.url)),
  'utf8',
);

describe('the runbook recipe without safetynet', () => {
  it('rebuilds an incremental point with age, zstd, jq and the documented apply.py', async () => {
    const e = await createTestEnv({ rows: 5000 });
    envs.push(e);
    await backupDatabase(e.deps, { mode: 'full' });
    const db = new Database(e.config.database.path);
    db.exec("UPDATE orders SET status = 'refunded' WHERE id % 13 = 0; DELETE FROM payments WHERE id > 4900");
    db.close();
    await backupDatabase(e.deps, { mode: 'incremental' });
    const work = path.join(e.dir, 'by-hand');
    execFileSync('mkdir', ['-p', work]);
    const script = /```python\n(# apply\.py[\s\S]*?)```/.exec(runbook)?.[1];
    expect(script).toBeDefined();
    writeFileSync(path.join(work, 'apply.py'), script!);

    const repo = e.deps.repo.storage.localPath!;
    const sh = (cmd: string) =>
      execFileSync('bash', ['-c', cmd], {
        cwd: work,
        env: { ...process.env, REPO: repo, KEY: e.identityFile },
      });
    const catalog = readdirSync(path.join(repo, 'catalog')).sort();
    const full = catalog.find((c) => c.includes('_db_full'))!;
    const inc = catalog.find((c) => c.includes('_db_incremental'))!;
    // Full point: the runbook's loop.
    sh(
      `for key in $(jq -r '.objects[].key' "$REPO/catalog/${full}"); do age -d -i "$KEY" "$REPO/$key" | zstd -d; done > shop.sqlite`,
    );
    // Incremental: sizes from the sealed manifest, then the apply loop.
    const incId = inc.split('_')[0]!;
    const m = JSON.parse(
      sh(`age -d -i "$KEY" "$REPO/manifests/${incId}.age" | zstd -d`).toString(),
    ) as SqliteManifest;
    sh(
      `for key in $(jq -r '.objects[].key' "$REPO/catalog/${inc}"); do age -d -i "$KEY" "$REPO/$key" | zstd -d | python3 apply.py shop.sqlite ${m.database.pageSize} ${m.database.sizeBytes}; done`,
    );
    const sha = createHash('sha256')
      .update(readFileSync(path.join(work, 'shop.sqlite')))
      .digest('hex');
    expect(sha).toBe(m.database.sha256);
    expect(
      execFileSync('sqlite3', [path.join(work, 'shop.sqlite'), 'PRAGMA integrity_check'])
        .toString()
        .trim(),
    ).toBe('ok');
  });
});
