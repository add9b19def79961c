import * as path from 'node:path';
import { describe } from 'vitest';
import { createStorage } from '../../src/backup/storage/index.js';
import { tempDir } from '../helpers/tmp.js';
import { runStorageConformance } from './conformance.js';

describe('local storage', () => {
  runStorageConformance('local folder', async () => {
    // Through createStorage, as the product builds it (with the retry decorator).
    const storage = createStorage({ repository: 'file://' + path.join(tempDir(), 'repo'), s3: {} });
    await storage.probe();
    return storage;
  });
});
