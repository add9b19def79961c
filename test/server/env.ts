/**
 * The Backups page over real things: a real backup environment (test/backup/env.ts: age identity,
 * SQLite shop database, real logger, local repository) with a few shop files, the real scheduler
 * running serve's real jobs (src/server/jobs.ts), the real provider, and the admin panel
 * (app.inject()). A job may be held at its start by a gate, so a test can look at the page while
 * the job is "running" without racing it; the job itself is the real one.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { systemTimerClock } from '../../src/clock.js';
import { schedulerStatePath } from '../../src/backup/status.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import type { RunReason } from '../../src/schedule/state.js';
import { JsonFileStateStore } from '../../src/schedule/state.js';
import { backupsPageProvider } from '../../src/server/backups-provider.js';
import { scheduledJobs } from '../../src/server/jobs.js';
import type { BackupsPageProvider } from '../../src/web/backups.js';
import { createTestEnv, type TestEnv } from '../backup/env.js';
import { makePanel, type Panel } from '../web/helpers.js';

/** Writes a few invoices and images into the default file sets' folders. */
export function writeShopFiles(dir: string, n = 5): void {
  for (const sub of ['data/invoices/2026', 'data/images'])
    mkdirSync(path.join(dir, sub), { recursive: true });
  for (let i = 1; i <= n; i++) {
    writeFileSync(
      path.join(dir, `data/invoices/2026/INV-${1000 + i}.pdf`),
      `%PDF-1.4 invoice ${i}\n`.repeat(200),
    );
    writeFileSync(path.join(dir, `data/images/product-${i}.png`), Buffer.alloc(3000, i));
  }
}

/** A job start the test releases by hand. */
export class Gate {
  private open = false;
  private waiters: (() => void)[] = [];
  /** Resolves when a held job has reached the gate. */
  reached: Promise<void>;
  private markReached!: () => void;
  constructor() {
    this.reached = new Promise((r) => (this.markReached = r));
  }
  pass(): Promise<void> {
    this.markReached();
    if (this.open) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
  release(): void {
    this.open = true;
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Resolves once no job runs and none is due (catch-up runs at start included). */
export async function schedulerSettled(scheduler: Scheduler, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const now = Date.now();
    const due = scheduler.nextRuns().some((n) => n.at !== null && Date.parse(n.at) <= now);
    if (!scheduler.running() && !due) return;
    if (now > until)
      throw new Error(`scheduler still busy after ${timeoutMs} ms: ${JSON.stringify(scheduler.running())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface ServerEnv {
  env: TestEnv;
  scheduler: Scheduler;
  provider: BackupsPageProvider;
  panel: Panel;
  /** Set a gate to hold the next runs of a job at their start. */
  gates: Map<string, Gate>;
  /** Resolves once no job runs and none is due (the catch-up runs at start included). */
  settle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function createServerEnv(opts: { rows?: number } = {}): Promise<ServerEnv> {
  // The hourly incremental slot is moved to once a year so that no scheduled run can land in the
  // middle of a test (at hh:00) and add a point the test did not ask for; the catch-up at start
  // and the buttons run the same job.
  const env = await createTestEnv({
    rows: opts.rows ?? 500,
    backup: { schedule: { incremental: '0 0 1 1 *' } },
  });
  writeShopFiles(env.dir);
  const gates = new Map<string, Gate>();
  const jobs = scheduledJobs(env.deps, env.deps.logger).map((job) => ({
    ...job,
    run: async (signal: AbortSignal, context: { reason: RunReason }) => {
      await gates.get(job.name)?.pass();
      return job.run(signal, context);
    },
  }));
  const scheduler = new Scheduler({
    clock: systemTimerClock,
    timezone: env.config.backup.timezone,
    jobs,
    state: new JsonFileStateStore(schedulerStatePath(env.config.backup.stateDir)),
    catchUpDelayMs: 0,
  });
  await scheduler.start();
  const provider = backupsPageProvider(env.deps, scheduler);
  const panel = await makePanel({ backups: provider });

  const settle = (timeoutMs?: number) => schedulerSettled(scheduler, timeoutMs);

  return {
    env,
    scheduler,
    provider,
    panel,
    gates,
    settle,
    async close() {
      for (const g of gates.values()) g.release();
      await scheduler.stop({ abortRunning: true });
      await panel.close();
      await env.close();
    },
  };
}
