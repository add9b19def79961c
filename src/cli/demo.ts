/**
 * `safetynet demo …`: the demo shop that `npm start` runs (see docs/demo.md).
 *
 *   safetynet demo init [--dir demo] [--seed N] [--json]
 *   safetynet --config demo/safetynet.config.json demo activity [--interval 3s] [--count N] [--seed N]
 *                                                              [--showcase] [--verbose] [--json]
 */
import type { Command } from 'commander';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { parseDurationMs } from '../util/time.js';
import { action } from './context.js';

interface InitFlags {
  dir: string;
  seed?: string;
  json?: boolean;
}

interface ActivityFlags {
  interval: string;
  count?: string;
  seed?: string;
  showcase?: boolean;
  verbose?: boolean;
  json?: boolean;
}

function parseIntFlag(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError('E_USAGE', `${flag}: "${value}" is not a whole number of at least ${min}`, {
      hint: `pass ${flag} a whole number, e.g. ${flag} ${Math.max(min, 3)}`,
    });
  }
  return n;
}

export function register(program: Command): void {
  const demo = program
    .command('demo')
    .description('the demo shop behind `npm start`: sample data, an admin account, simulated shop activity');

  demo
    .command('init')
    .description(
      'create the demo (config, age identity, shop database, invoices, images, admin account); keeps whatever exists',
    )
    .option('--dir <dir>', 'demo folder', 'demo')
    .option('--seed <n>', 'seed for the sample data (default: random)')
    .option('--json', 'print the result as one JSON object (it includes a new admin password)')
    .action(
      action(async (ctx, opts: InitFlags) => {
        const { initDemo } = await import('../demo/init.js');
        const { formatCredentials, formatInitReport } = await import('../demo/report.js');
        const report = await initDemo({
          dir: path.resolve(opts.dir),
          ...(opts.seed !== undefined ? { seed: parseIntFlag(opts.seed, '--seed', 0) } : {}),
        });
        if (ctx.json) {
          ctx.printJson(report);
          return;
        }
        for (const line of formatInitReport(report)) ctx.print(line);
        ctx.print();
        for (const line of formatCredentials(report)) ctx.print(line);
      }),
    );

  demo
    .command('activity')
    .description(
      'simulate the shop: orders, webhooks, payments, invoices, stock, e-mails, now and then a mishap',
    )
    .option('--interval <duration>', 'mean time between orders (each pause is 0.5-1.5x this)', '3s')
    .option('--count <n>', 'stop after this many orders (default: run until Ctrl-C / SIGTERM)')
    .option('--seed <n>', 'seed for the simulation (default: random)')
    .option(
      '--showcase',
      'make the first three orders show every kind of event once (failed login, declined card, exception, e-mail timeout)',
    )
    .option('--verbose', 'print one line per order')
    .option('--json', 'print the summary as one JSON object at the end')
    .action(
      action(async (ctx, opts: ActivityFlags) => {
        const intervalMs = parseDurationMs(opts.interval);
        if (intervalMs === undefined) {
          throw new UsageError('E_USAGE', `--interval: "${opts.interval}" is not a duration`, {
            hint: 'use a number and a unit: 500ms, 3s, 1m (0s runs orders back to back)',
          });
        }
        const count = opts.count !== undefined ? parseIntFlag(opts.count, '--count', 1) : undefined;
        const { runActivity } = await import('../demo/activity.js');
        const { createRng, randomSeed } = await import('../demo/rng.js');
        const { createLogger } = await import('../log/index.js');
        const { money } = await import('../demo/invoice.js');
        const config = ctx.config;
        const seed = opts.seed !== undefined ? parseIntFlag(opts.seed, '--seed', 0) : randomSeed();
        const logger = await createLogger({ config, notify: (t) => ctx.note(t) });
        ctx.defer(() => logger.close());

        // First signal: finish the order in progress, flush the log, exit 0. The loop checks the
        // signal between orders, so an order is never left half-written.
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        ctx.defer(() => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        });

        if (!ctx.json) {
          ctx.note(
            (count
              ? `demo activity: ${count} order${count === 1 ? '' : 's'}, one every ~${opts.interval},`
              : `demo activity: a new order every ~${opts.interval}`) +
              ` into ${config.database.path}${count ? '' : ' (Ctrl-C to stop)'}`,
          );
        }
        const report = await runActivity({
          config,
          logger,
          rng: createRng(seed),
          intervalMs,
          ...(count !== undefined ? { count } : {}),
          showcase: Boolean(opts.showcase),
          signal: stop.signal,
          onStep: opts.verbose
            ? (r) =>
                ctx.print(
                  `order #${r.orderId} ${money(r.totalCents)} ${r.paid ? `paid${r.invoice ? `, invoice ${r.invoice}` : ''}` : 'payment failed'}` +
                    (r.errors ? ', error logged' : '') +
                    (r.securityEvents ? ', failed login logged' : ''),
                )
            : undefined,
        });
        if (ctx.json) ctx.printJson({ ...report, seed });
        else
          ctx.note(
            `demo activity: ${report.orders} orders (${report.paid} paid, ${report.failedPayments} declined), ` +
              `${report.invoices} invoices, ${report.securityEvents} failed logins simulated` +
              (report.stepErrors ? `, ${report.stepErrors} steps failed (see the error log)` : '') +
              '; stopped',
          );
      }),
    );
}
