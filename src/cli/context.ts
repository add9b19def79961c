/**
 * What every command shares: the loaded configuration, resources to close when the command ends,
 * and output helpers that honour `--json`.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import type { SafetynetConfig } from '../config/index.js';
import type { Logger } from '../log/types.js';

export interface CommandContext {
  /** The configuration, loaded on first use (so `--help` never needs a valid config). */
  readonly config: SafetynetConfig;
  /** True when the command was given `--json`. */
  readonly json: boolean;
  /** Registers a cleanup that runs when the command ends, in reverse order. */
  defer(fn: () => unknown): void;
  /** Writes a line to stdout. */
  print(line?: string): void;
  /** Writes one value as a JSON line to stdout. */
  printJson(value: unknown): void;
  /**
   * Prints the config's warnings (e.g. a default file set whose folder is missing) to stderr.
   * Only commands they concern call it (file backups, serve, status), so other commands stay quiet.
   */
  printConfigWarnings(): void;
  /** Writes a line to stderr (progress, warnings). */
  note(line: string): void;
  /** Set by a command that finished but must exit with a non-zero code (a failed check). */
  exitCode: number;
  /**
   * The configured logger, opened on first use (writing on this thread) and flushed and closed
   * when the command ends. Commands write their own entries through it (e.g. `backup` category).
   */
  logger(): Promise<Logger>;
}

interface GlobalOptions {
  config?: string;
  json?: boolean;
}

/** Builds the context for one command invocation. */
export function createContext(cmd: Command): CommandContext & { close(): Promise<void> } {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const cleanups: (() => unknown)[] = [];
  let config: SafetynetConfig | undefined;
  let logger: Promise<Logger> | undefined;
  const ctx = {
    get config(): SafetynetConfig {
      if (!config) {
        config = loadConfig(opts.config ? { configPath: opts.config } : {});
      }
      return config;
    },
    json: Boolean(opts.json),
    exitCode: 0,
    defer(fn: () => unknown) {
      cleanups.push(fn);
    },
    print(line = '') {
      process.stdout.write(line + '\n');
    },
    printJson(value: unknown) {
      process.stdout.write(JSON.stringify(value) + '\n');
    },
    printConfigWarnings() {
      if (!opts.json) for (const w of ctx.config.warnings) process.stderr.write(`safetynet: warning: ${w}\n`);
    },
    note(line: string) {
      process.stderr.write(line + '\n');
    },
    logger(): Promise<Logger> {
      logger ??= (async () => {
        // Loaded on demand so commands that never log do not load the logging code.
        const { createLogger } = await import('../log/index.js');
        const log = await createLogger({ config: ctx.config, writer: 'inline' });
        cleanups.push(() => log.close());
        return log;
      })();
      return logger;
    },
    async close() {
      while (cleanups.length) {
        const fn = cleanups.pop()!;
        await fn();
      }
    },
  };
  return ctx;
}

/**
 * Wraps a command's action: builds the context, runs the handler, always runs cleanups, and sets
 * the process exit code the handler asked for. Errors propagate to main, which prints them.
 */
export function action<A extends unknown[]>(
  handler: (ctx: CommandContext, ...args: A) => Promise<void> | void,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const ctx = createContext(cmd);
    try {
      await handler(ctx, ...(args.slice(0, -1) as A));
    } finally {
      await ctx.close();
    }
    if (ctx.exitCode) process.exitCode = ctx.exitCode;
  };
}
