/**
 * One server of http-bench.ts: `node --import tsx http-server.ts KIND DIR` prints its URL, serves
 * until a line arrives on stdin, then closes (flushing the safetynet logger) and exits.
 */
import * as path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { createLogger, type Logger } from '../../src/index.js';
import safetynet from '../../src/integrations/fastify.js';

const [kind, dir] = process.argv.slice(2) as [string, string];
type Kind = 'bare' | 'pino' | 'safetynet';

async function server(kind: Kind): Promise<{ app: FastifyInstance; url: string; log?: Logger }> {
  let app: FastifyInstance;
  let log: Logger | undefined;
  if (kind === 'pino') {
    const dest = pino.destination({ dest: path.join(dir, 'pino.log'), sync: false, minLength: 4096 });
    app = Fastify({ loggerInstance: pino(dest) }) as unknown as FastifyInstance;
    app.get('/orders/:orderId', async (request) => {
      request.log.info(
        { category: 'order', orderId: (request.params as { orderId: string }).orderId },
        'order viewed',
      );
      return { ok: true };
    });
  } else {
    app = Fastify();
    if (kind === 'safetynet') {
      log = await createLogger({
        storePath: path.join(dir, 'logs.sqlite'),
        spoolDir: path.join(dir, 'spool'),
      });
      await app.register(safetynet, { logger: log });
    }
    app.get('/orders/:orderId', async (request) => {
      if (kind === 'safetynet') void request.safetynet.order.info('order viewed');
      return { ok: true };
    });
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, ...(log ? { log } : {}) };
}

const s = await server(kind as Kind);
process.stdout.write(s.url + '\n');
process.stdin.once('data', () => {
  void (async () => {
    await s.app.close();
    await s.log?.close();
    process.exit(0);
  })();
});
