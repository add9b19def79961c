/**
 * The ustar members a base backup adds to the server's archive (backup_manifest) must read back
 * with GNU tar, as the runbook's recipe and pg_verifybackup expect.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  TAR_TRAILER_BYTES,
  tarFileHeader,
  tarPadding,
} from '../../../src/backup/sources/postgres/tar-header.js';
import { tempDir } from '../../helpers/tmp.js';

describe('tar headers for injected members', () => {
  it('GNU tar lists and extracts them byte for byte, with their size, mode and time', () => {
    const dir = tempDir();
    const members: [string, Buffer][] = [
      ['backup_manifest', Buffer.from(JSON.stringify({ 'PostgreSQL-Backup-Manifest-Version': 1 }) + '\n')],
      ['global/pg_control', Buffer.alloc(8192, 7)],
      ['empty', Buffer.alloc(0)],
      ['a'.repeat(99), Buffer.from('x'.repeat(513))],
    ];
    const mtime = 1_765_000_000;
    const parts: Buffer[] = [];
    for (const [name, data] of members)
      parts.push(tarFileHeader(name, data.length, mtime), data, tarPadding(data.length));
    parts.push(Buffer.alloc(TAR_TRAILER_BYTES));
    const file = path.join(dir, 'a.tar');
    writeFileSync(file, Buffer.concat(parts));
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
    expect(listing).toMatch(/^-rw------- \S+ +41 .* backup_manifest$/m);
    const out = path.join(dir, 'out');
    execFileSync('mkdir', ['-p', path.join(out, 'global')]);
    execFileSync('tar', ['-xf', file, '-C', out]);
    for (const [name, data] of members) {
      expect(readFileSync(path.join(out, name)).equals(data)).toBe(true);
      expect(statSync(path.join(out, name)).mtimeMs).toBe(mtime * 1000);
    }
  });

  it('refuses a name longer than a ustar name field', () => {
    expect(() => tarFileHeader('b'.repeat(100), 1, 0)).toThrow(/too long/);
  });
});
