/** Issue 11, finding 11: the log store holds personal data, so its files are 0600 like the spool. */
import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { createLogger } from '../../src/log/index.js';
import { SqliteLogStore } from '../../src/log/store/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

const mode = (f: string) => statSync(f).mode & 0o777;

describe('log store file mode', () => {
  it('creates the store and its WAL 0600 whatever the umask', async () => {
    const dir = tempDir();
    const old = process.umask(0o022);
    try {
      const log = await createLogger({
        storePath: path.join(dir, 'logs.sqlite'),
        spoolDir: path.join(dir, 'spool'),
        notify: () => {},
      });
      await log.order.info('placed');
      expect(mode(path.join(dir, 'logs.sqlite'))).toBe(0o600);
      expect(existsSync(path.join(dir, 'logs.sqlite-wal'))).toBe(true);
      expect(mode(path.join(dir, 'logs.sqlite-wal'))).toBe(0o600);
      await log.close();
    } finally {
      process.umask(old);
    }
  });

  it('narrows an existing store readable by others to 0600 when opening it for writing', () => {
    const file = path.join(tempDir(), 'logs.sqlite');
    SqliteLogStore.open(file).closeSync();
    chmodSync(file, 0o644);
    SqliteLogStore.open(file).closeSync();
    expect(mode(file)).toBe(0o600);
    // A read-only open changes nothing.
    chmodSync(file, 0o640);
    SqliteLogStore.open(file, { readonly: true }).closeSync();
    expect(mode(file)).toBe(0o640);
  });
});
