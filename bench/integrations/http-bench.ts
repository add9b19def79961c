/**
 * What the Fastify plugin costs a shop per request, against the peer a Fastify shop already runs:
 * Fastify's built-in pino request logging to a file (async destination).
 *
 *   npx tsx bench/integrations/http-bench.ts [--requests 20000] [--concurrency 16] [--rounds 3]
 *
 * Three servers, same route (`GET /orders/:orderId`, one business log line per request), measured
 * in alternating rounds over a real socket with keep-alive:
 * - bare: Fastify, no logging (the floor);
 * - pino (peer): Fastify `loggerInstance` = pino to a file (its two request lines + the route's line);
 * - safetynet: Fastify + `safetynet/fastify` (request id, route, order id bound; error and 401/403
 *   accounting) + the route's `request.safetynet.order.info(…)` into the durable SQLite store.
 * Each server runs in its own process (http-server.ts); the client here. Reports ms per 1,000
 * requests (median of the rounds) and the ratio.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { appendResults, printTable, type Comparison } from '../lib/report.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'safetynet-http-bench-'));

type Kind = 'bare' | 'pino' | 'safetynet';

/** Starts `http-server.ts KIND` in its own process (so the client's work is not the server's). */
async function server(kind: Kind): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, kind, dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return {
    url: line.trim(),
    stop: async () => {
      child.stdin!.end('stop\n');
      await once(child, 'exit');
    },
  };
}

async function drive(url: string): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        const r = await fetch(`${url}/orders/${1000 + (i % 500)}`);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        await r.arrayBuffer();
      }
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function measure(kind: Kind): Promise<number> {
  const s = await server(kind);
  try {
    await drive(s.url); // warm-up round, not counted
    return await drive(s.url);
  } finally {
    await s.stop(); // safetynet: closing flushes, so every entry is durable
  }
}

const times: Record<Kind, number[]> = { bare: [], pino: [], safetynet: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order: Kind[] = round % 2 === 0 ? ['bare', 'pino', 'safetynet'] : ['safetynet', 'pino', 'bare'];
  for (const kind of order) times[kind].push(await measure(kind));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const per1000 = (kind: Kind) => (median(times[kind]) / REQUESTS) * 1000;
const rows: Comparison[] = [
  {
    metric: `ms per 1,000 requests (median of ${ROUNDS}), one order entry each`,
    unit: 'ms',
    ours: per1000('safetynet'),
    peer: per1000('pino'),
    peerName: 'Fastify + pino request logging to a file',
    goalRatio: 1.1,
  },
  {
    metric: 'same, against Fastify without any logging',
    unit: 'ms',
    ours: per1000('safetynet'),
    peer: per1000('bare'),
    peerName: 'bare Fastify',
  },
];
printTable(`Fastify plugin overhead (${REQUESTS} requests, concurrency ${CONCURRENCY})`, rows);
console.log(JSON.stringify(times));
appendResults('integrations-http', rows, {
  requests: REQUESTS,
  concurrency: CONCURRENCY,
  rounds: ROUNDS,
  times,
});
rmSync(dir, { recursive: true, force: true });
