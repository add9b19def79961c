/**
 * A one-line progress bar on stderr for long work (backups, restores, verify --read-data). Only on
 * a terminal and never with --json, so scripts and logs stay clean.
 */
import type { Progress } from '../backup/context.js';
import { noProgress } from '../backup/context.js';

/** A progress reporter for the current terminal, or a silent one. */
export function terminalProgress(json: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (json || !stream.isTTY) return noProgress;
  let label = '';
  let total = 0;
  let done = 0;
  let started = 0;
  let lastDraw = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 50));
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * width);
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? done / secs / (1 << 20) : 0;
    stream.write(
      `\r${label.padEnd(16)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${rate.toFixed(0)} MiB/s \x1b[K`,
    );
  };
  return {
    start(l, t) {
      label = l;
      total = t;
      done = 0;
      started = Date.now();
      draw(true);
    },
    advance(n) {
      done += n;
      draw();
    },
    done() {
      draw(true);
      stream.write('\r\x1b[K');
    },
  };
}
