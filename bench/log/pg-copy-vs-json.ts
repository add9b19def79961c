/**
 * Server CPU per entry of the two ways to send a batch: one JSON parameter expanded with
 * json_to_recordset (what the store does), and COPY … FROM in text format (tsvector given as
 * text, built in the client). Same rows, same table (the store's schema), backend CPU read from
 * /proc (the server must run on this machine). Decides whether COPY is worth a dependency.
 *
 *   npx tsx bench/log/pg-copy-vs-json.ts [--count 100000]
 */
import { readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import pg from 'pg';
import { PostgresLogStore } from '../../src/log/store/postgres/store.js';
import { words } from '../../src/log/store/postgres/text.js';
import { machineInfo } from '../lib/report.js';
import { entryStream } from './entries.js';
import { dropBenchDatabase, freshBenchDatabase } from './pg-db.js';

const args = process.argv.slice(2);
const COUNT = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) : 100_000;

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) * 10;
}

const copyText = (s: string | null) =>
  s === null
    ? '\\N'
    : s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);

async function main(): Promise<void> {
  console.log(`COPY vs json_to_recordset, ${COUNT} entries; load ${machineInfo().loadavg.join(' ')}`);
  const url = await freshBenchDatabase();
  const file = `/tmp/sn-copy-${process.pid}.tsv`;
  try {
    const setup = new PostgresLogStore({ connectionString: url });
    await setup.append([
      {
        ts: Date.now(),
        level: 'info',
        category: 'system',
        message: 'x',
        details: '{}',
        orderId: null,
        errorStack: null,
      },
    ]);
    await setup.close();
    const next = entryStream(9);
    const rows = Array.from({ length: COUNT }, (_, i) => {
      const e = next();
      return {
        i: 1000 + i,
        t: Date.now() + i,
        l: 0,
        c: e.category,
        m: e.message,
        d: JSON.stringify(e.details ?? {}),
        o: e.orderId ?? null,
        e: e.stack ?? null,
        s: i + 2,
        h: 'ab'.repeat(32),
        x: words(e.message).join(' '),
      };
    });
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const pid = (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    for (let round = 0; round < 2; round++) {
      await c.query('TRUNCATE safetynet_log.logs');
      let t0 = cpuMs(pid);
      let c0 = process.cpuUsage();
      for (let k = 0; k < COUNT; k += 8192) {
        await c.query(
          `INSERT INTO safetynet_log.logs (writer, id, ts, level, category, message, details, order_id, error_stack, seq, hash, tsv)
           SELECT 1, i, t, l, c, m, d, o, e, s, decode(h, 'hex'), to_tsvector('simple', x)
           FROM json_to_recordset($1::json) AS r (i bigint, t bigint, l smallint, c text, m text, d text, o text, e text, s bigint, h text, x text)`,
          [JSON.stringify(rows.slice(k, k + 8192))],
        );
      }
      let cc = process.cpuUsage(c0);
      console.log(
        `  json_to_recordset: server ${(((cpuMs(pid) - t0) * 1000) / COUNT).toFixed(2)} µs/entry, client ${((cc.user + cc.system) / COUNT).toFixed(2)} µs/entry`,
      );
      await c.query('TRUNCATE safetynet_log.logs');
      c0 = process.cpuUsage();
      const text =
        rows
          .map((r) =>
            [
              1,
              r.i,
              r.t,
              r.l,
              copyText(r.c),
              copyText(r.m),
              copyText(r.d),
              copyText(r.o),
              copyText(r.e),
              r.s,
              '\\\\x' + r.h,
              r.x
                .split(' ')
                .map((w, j) => `'${w}':${j + 1}`)
                .join(' '),
            ].join('\t'),
          )
          .join('\n') + '\n';
      cc = process.cpuUsage(c0);
      writeFileSync(file, text);
      chmodSync(file, 0o644);
      t0 = cpuMs(pid);
      await c.query(
        `COPY safetynet_log.logs (writer, id, ts, level, category, message, details, order_id, error_stack, seq, hash, tsv) FROM '${file}'`,
      );
      console.log(
        `  COPY text (server file): server ${(((cpuMs(pid) - t0) * 1000) / COUNT).toFixed(2)} µs/entry, client text ${((cc.user + cc.system) / COUNT).toFixed(2)} µs/entry`,
      );
    }
    await c.end();
  } finally {
    rmSync(file, { force: true });
    await dropBenchDatabase(url);
  }
}

await main();
