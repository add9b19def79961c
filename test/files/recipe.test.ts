/**
 * The standard-tools promise: docs/files-backup.md shows how to get a file back with `age`, `zstd`
 * and python3 alone. This test takes that shell block from the doc, sets its five variables, and
 * runs the rest exactly as written (dash, the real age and zstd CLIs).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupFiles } from '../../src/backup/sources/files/backup.js';
import { tempDir } from '../helpers/tmp.js';
import { bytes, createFilesEnv, put, type FilesEnv } from './env.js';

const DOC = path.join(import.meta.dirname, '../../docs/files-backup.md');
const VARIABLES = ['KEY', 'REPO', 'SET', 'FILE', 'OUT'] as const;

/** The documented block, with its variable lines replaced by ours and every other line untouched. */
function recipe(values: Record<(typeof VARIABLES)[number], string>): string {
  const doc = readFileSync(DOC, 'utf8');
  const m = /<!-- recipe:restore-one-file -->\n```sh\n([\s\S]*?)\n```/.exec(doc);
  if (!m) throw new Error('the recipe block is missing from docs/files-backup.md');
  const lines = m[1]!.split('\n');
  for (const v of VARIABLES) {
    const i = lines.findIndex((l) => l.startsWith(`${v}=`));
    expect(i, `the recipe sets ${v}`).toBeGreaterThanOrEqual(0);
    lines[i] = `${v}='${values[v]}'`;
  }
  return lines.join('\n');
}

let env: FilesEnv;
beforeAll(async () => {
  env = await createFilesEnv({ keepDir: true });
  // 1,001 invoices in one folder: its list is split into two segments.
  for (let i = 1; i <= 1001; i++)
    put(
      path.join(env.shop, 'invoices/2026', `INV-${String(i).padStart(6, '0')}.pdf`),
      `%PDF-1.4 invoice ${i}\n`,
    );
  put(path.join(env.shop, 'images/catalogue.bin'), bytes(3, 2_500_000)); // several blobs, at the set's root
  put(path.join(env.shop, 'images/empty.txt'), '');
  await backupFiles(env.deps);
  put(path.join(env.shop, 'invoices/2026/INV-000001.pdf'), 'corrected invoice 1\n', 1_770_000_000);
  await backupFiles(env.deps); // the newest point: the recipe must find the corrected file
});
afterAll(async () => env?.close());

describe('the age + zstd + python3 recipe of docs/files-backup.md', () => {
  const run = (set: string, file: string) => {
    const work = tempDir('safetynet-recipe-');
    const out = path.basename(file);
    const script = recipe({
      KEY: env.identityFile,
      REPO: path.join(env.dir, 'data/backups'),
      SET: set,
      FILE: file,
      OUT: out,
    });
    const stdout = execFileSync('sh', ['-c', script], { cwd: work, encoding: 'utf8' });
    expect(stdout).toContain(`${out}: OK`); // sha256sum -c
    return readFileSync(path.join(work, out));
  };

  it('gets back an invoice from a folder whose list spans two segments, as of the newest point', () => {
    expect(run('invoices', '2026/INV-000001.pdf').toString()).toBe('corrected invoice 1\n');
    expect(run('invoices', '2026/INV-001001.pdf').toString()).toBe('%PDF-1.4 invoice 1001\n');
  });

  it('gets back a multi-blob file at the root of its set, and an empty file', () => {
    expect(run('images', 'catalogue.bin').equals(bytes(3, 2_500_000))).toBe(true);
    expect(run('images', 'empty.txt').length).toBe(0);
  });

  it('fails clearly for a file that is not there', () => {
    expect(() => run('invoices', '2026/nope.pdf')).toThrow(/is not in set invoices/);
  });
});
