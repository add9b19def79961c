/**
 * safetynet/pino with the real pino: the transport is resolved by its package name
 * ('safetynet/pino', from the built dist/), runs in pino's worker thread, and the entries land in
 * the real SQLite store named by the config.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { SqliteLogStore, type LogEntry } from '../../src/index.js';
import { levelFromPino } from '../../src/integrations/pino.js';
import { tempDir } from '../helpers/tmp.js';

function configIn(dir: string): string {
  const file = path.join(dir, 'safetynet.config.json');
  writeFileSync(file, JSON.stringify({ logs: { categories: ['refunds'] } }));
  return file;
}

async function storedEntries(dir: string): Promise<LogEntry[]> {
  const store = await SqliteLogStore.open(path.join(dir, 'data', 'logs.sqlite'));
  try {
    return (await store.search({}, { limit: 100 })).entries.reverse();
  } finally {
    await store.close();
  }
}

async function logThrough(options: Record<string, unknown> | undefined, write: (l: pino.Logger) => void) {
  const transport = pino.transport({ target: 'safetynet/pino', ...(options ? { options } : {}) });
  const logger = pino({ level: 'trace' }, transport);
  write(logger);
  logger.flush();
  transport.end();
  await once(transport, 'close');
}

const savedEnv = process.env.SAFETYNET_CONFIG;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.SAFETYNET_CONFIG;
  else process.env.SAFETYNET_CONFIG = savedEnv;
});

describe('safetynet/pino', () => {
  it('maps pino levels to ours', () => {
    expect([10, 20, 30, 40, 50, 60, 70].map(levelFromPino)).toEqual([
      'info',
      'info',
      'info',
      'warn',
      'error',
      'critical',
      'critical',
    ]);
  });

  it("stores a shop's pino lines: levels, category, order id, err with causes, default category", async () => {
    const dir = tempDir();
    const config = configIn(dir);
    await logThrough({ config }, (logger) => {
      logger.debug('noise that is not kept');
      logger.info({ category: 'order', orderId: 1042, total: 59.9 }, 'order placed');
      logger.warn({ category: 'payment', order_id: '1042', password: 'hunter2' }, 'card declined');
      logger.error(
        {
          err: new Error('smtp refused', { cause: new Error('421 busy') }),
          category: 'email',
          orderId: 1042,
        },
        'confirmation not sent',
      );
      logger.fatal('out of disk');
      logger.info({ category: 'refunds' }, 'custom category');
      logger.info({ category: 'no-such-category' }, 'unplaceable');
      logger.child({ category: 'inventory' }).info({ sku: 'TEE-1', delta: -1 }, 'stock reserved');
    });
    const all = await storedEntries(dir);
    expect(all.map((e) => [e.level, e.category, e.message])).toEqual([
      ['info', 'order', 'order placed'],
      ['warn', 'payment', 'card declined'],
      ['error', 'email', 'confirmation not sent'],
      ['critical', 'system', 'out of disk'],
      ['info', 'refunds', 'custom category'],
      ['info', 'system', 'unplaceable'],
      ['info', 'inventory', 'stock reserved'],
    ]);
    expect(all[0]!.order_id).toBe('1042');
    expect(all[0]!.details).toMatchObject({ total: 59.9 });
    expect(all[1]!.order_id).toBe('1042');
    expect(all[1]!.details.password).toBe('[REDACTED]');
    expect(all[2]!.error_stack).toContain('Error: smtp refused');
    expect(all[2]!.error_stack).toContain('caused by: Error: 421 busy');
    expect(all[5]!.details.requestedCategory).toBe('no-such-category');
    expect(all[6]!.details).toMatchObject({ sku: 'TEE-1', delta: -1 });
  });

  it('with no options finds the config like the CLI (SAFETYNET_CONFIG), and takes a default category', async () => {
    const dir = tempDir();
    process.env.SAFETYNET_CONFIG = configIn(dir);
    await logThrough(undefined, (logger) => logger.info('plain line'));
    const dir2 = tempDir();
    await logThrough({ config: configIn(dir2), defaultCategory: 'refunds' }, (logger) =>
      logger.warn('plain'),
    );
    expect((await storedEntries(dir)).map((e) => [e.category, e.message])).toEqual([
      ['system', 'plain line'],
    ]);
    expect((await storedEntries(dir2)).map((e) => [e.category, e.level])).toEqual([['refunds', 'warn']]);
  });
});

describe('safetynet/pino, the transport stream itself', () => {
  it('stores a line that is not JSON as a warning, and drops lines below minLevel', async () => {
    const dir = tempDir();
    const { default: transport } = await import('../../src/integrations/pino.js');
    const stream = await transport({ config: configIn(dir), minLevel: 40 });
    stream.write('this is not json\n');
    stream.write(JSON.stringify({ level: 30, msg: 'below minLevel' }) + '\n');
    stream.write(JSON.stringify({ level: 40, msg: 'kept', orderId: 3 }) + '\n');
    stream.end();
    await once(stream, 'close');
    const all = await storedEntries(dir);
    expect(all.map((e) => [e.level, e.category, e.message])).toEqual([
      ['warn', 'system', 'pino line that is not JSON'],
      ['warn', 'system', 'kept'],
    ]);
    expect(all[0]!.details.line).toBe('this is not json');
  });
});
