/**
 * A folder fsync that fails is an error (issue 11, finding 9): only "this file system cannot
 * fsync folders" is ignored. And a durable delete fsyncs the folder.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsyncDir, fsyncUnsupported } from '../../src/util/fs.js';
import { LocalStorage } from '../../src/backup/storage/index.js';
import { tempDir } from '../helpers/tmp.js';

describe('folder fsync', () => {
  it('rejects on a real failure instead of swallowing it', async () => {
    // Before the fix every error was swallowed; ENOENT stands in for EIO, which no test can cause.
    await expect(fsyncDir(path.join(tempDir(), 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fsyncDir(tempDir())).resolves.toBeUndefined();
  });

  it('ignores only "not supported" answers', () => {
    for (const code of ['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'])
      expect(fsyncUnsupported(Object.assign(new Error(code), { code }))).toBe(true);
    for (const code of ['EIO', 'ENOSPC', 'EROFS', 'EACCES', 'ENOENT'])
      expect(fsyncUnsupported(Object.assign(new Error(code), { code }))).toBe(false);
  });

  it('a durable delete removes the object and keeps working', async () => {
    const s = new LocalStorage(path.join(tempDir(), 'repo'));
    await s.probe('write');
    await s.put('catalog/x.json', Buffer.from('{}'));
    await s.delete('catalog/x.json', { durable: true });
    expect(await s.head('catalog/x.json')).toBeUndefined();
    await s.delete('catalog/x.json', { durable: true }); // missing: not an error
  });
});
