/**
 * `safetynet/pino`: a pino transport that writes a shop's existing pino logs into the safetynet store.
 *
 *   pino({ transport: { target: 'safetynet/pino', options: { config: 'safetynet.config.json' } } });
 *
 * It runs in pino's transport worker thread (pino-abstract-transport); the logger inside keeps its
 * own writer thread, so a busy or unavailable store (up to the 5 s busy wait, then the spool)
 * never stalls the pino worker and, through its full buffer, the shop's `logger.info` calls.
 * Each line becomes one entry:
 * - level: trace/debug are dropped (below `minLevel`), info → info, warn → warn, error → error,
 *   fatal (and above) → critical;
 * - `category` from the line when it names a configured category, else `defaultCategory`
 *   (`system` by default; the requested name is kept in details);
 * - `orderId` / `order_id` → the entry's order id; `err` (pino's serialised error) → the stack with
 *   its causes; `msg` → the message; every other field → details (redacted like any detail).
 * Lines that are not JSON are stored under `defaultCategory` as a warning with the text.
 * With no `config` option the configuration is found as the CLI finds it (SAFETYNET_CONFIG, then
 * safetynet.config.json in the working directory, else the embedded defaults).
 */
import build from 'pino-abstract-transport';
import { loadConfig } from '../config/index.js';
import { createLogger, type CategoryLogger, type Level, type Logger } from '../log/index.js';

export interface PinoTransportOptions {
  /** Path of safetynet.config.json (default: found like the CLI does). */
  config?: string;
  /** Category for lines without a (known) `category` (default `system`). */
  defaultCategory?: string;
  /** Lowest pino level stored (default 30 = info; 20 also stores debug lines as `info`). */
  minLevel?: number;
}

/** Our level for a pino numeric level. */
export function levelFromPino(n: number): Level {
  if (n >= 60) return 'critical';
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  return 'info';
}

/** Fields of a pino line that are not copied into details. */
const CONSUMED = new Set(['level', 'time', 'msg', 'category', 'orderId', 'order_id', 'err', 'v']);

/** Turns pino's serialised error back into an Error whose stack is the one pino wrote (causes included). */
function errorFrom(serialised: unknown): Error | undefined {
  if (!serialised || typeof serialised !== 'object') return undefined;
  const s = serialised as Record<string, unknown>;
  const e = new Error(typeof s.message === 'string' ? s.message : 'error');
  if (typeof s.type === 'string') e.name = s.type;
  e.stack = typeof s.stack === 'string' ? s.stack : `${e.name}: ${e.message}`;
  for (const [k, v] of Object.entries(s)) {
    if (k !== 'type' && k !== 'message' && k !== 'stack' && k !== 'raw')
      (e as unknown as Record<string, unknown>)[k] = v;
  }
  return e;
}

/** Writes one parsed pino line through the logger; never throws. */
export function writeLine(log: Logger, line: Record<string, unknown>, defaultCategory: string): void {
  const level = levelFromPino(typeof line.level === 'number' ? line.level : 30);
  let category = typeof line.category === 'string' ? line.category : defaultCategory;
  const details: Record<string, unknown> = {};
  if (category !== defaultCategory && !hasCategory(log, category)) {
    details.requestedCategory = category;
    category = defaultCategory;
  }
  for (const [k, v] of Object.entries(line)) if (!CONSUMED.has(k)) details[k] = v;
  const rawOrder = line.orderId ?? line.order_id;
  const orderId = typeof rawOrder === 'string' || typeof rawOrder === 'number' ? rawOrder : undefined;
  const message = typeof line.msg === 'string' ? line.msg : undefined;
  const err = errorFrom(line.err);
  const opts = { details, ...(orderId !== undefined ? { orderId } : {}) };
  if (err) {
    void log.error(err, { ...opts, category, level, ...(message !== undefined ? { message } : {}) });
  } else {
    void (log.category(category) as CategoryLogger)[level](message ?? '(no message)', opts);
  }
}

const known = new WeakMap<Logger, Map<string, boolean>>();
function hasCategory(log: Logger, name: string): boolean {
  let m = known.get(log);
  if (!m) known.set(log, (m = new Map()));
  let ok = m.get(name);
  if (ok === undefined) {
    try {
      log.category(name);
      ok = true;
    } catch {
      ok = false;
    }
    if (m.size < 1000) m.set(name, ok);
  }
  return ok;
}

/** The transport factory pino calls inside its worker. */
export default async function safetynetPinoTransport(options: PinoTransportOptions = {}) {
  const config = loadConfig(options.config ? { configPath: options.config } : {});
  const log = await createLogger({ config });
  const defaultCategory = options.defaultCategory ?? 'system';
  log.category(defaultCategory); // an unknown default category is a setup error: fail at start
  const minLevel = options.minLevel ?? 30;
  return build(
    async (source) => {
      source.on('unknown', (text: unknown) => {
        void log.category(defaultCategory).warn('pino line that is not JSON', {
          details: { line: String(text).slice(0, 8192) },
        });
      });
      for await (const line of source as AsyncIterable<Record<string, unknown>>) {
        if (!line || typeof line !== 'object') continue;
        if (typeof line.level === 'number' && line.level < minLevel) continue;
        writeLine(log, line, defaultCategory);
      }
    },
    {
      async close() {
        await log.close();
      },
    },
  );
}
