/** Shared helpers for the crypto tests: the real age/zstd CLIs, deterministic data, key files. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

/** Runs a shell pipeline with `input` on stdin; returns stdout, throwing with stderr on failure. */
export function sh(cmd: string, input?: Uint8Array): Buffer {
  const r = spawnSync('sh', ['-c', cmd], { input, maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    throw new Error(`${cmd} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return r.stdout;
}

/** Like sh, but returns the exit status and stderr instead of throwing. */
export function shStatus(
  cmd: string,
  input?: Uint8Array,
): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('sh', ['-c', cmd], { input, maxBuffer: 1 << 30 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Generates an identity file with the real age-keygen; returns its path and recipient. */
export function ageKeygen(dir: string, name = 'age-key.txt'): { file: string; recipient: string } {
  const file = path.join(dir, name);
  sh(`age-keygen -o '${file}' 2>/dev/null`);
  const recipient = sh(`age-keygen -y '${file}'`).toString().trim();
  return { file, recipient };
}

export function writeKeyFile(dir: string, identity: string, name = 'key.txt'): string {
  const file = path.join(dir, name);
  writeFileSync(file, identity + '\n', { mode: 0o600 });
  return file;
}

/**
 * Deterministic, somewhat compressible bytes (a xorshift stream mixed with repeated text), so that
 * zstd has something to do and sizes land near chunk boundaries after compression too.
 */
export function testData(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  const text = Buffer.from('order 1042 paid status=shipped total=19.99 EUR; ');
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x & 3) === 0 ? x & 0xff : text[i % text.length]!;
  }
  return out;
}

/** Incompressible bytes of an exact size, for exact chunk-boundary payload sizes. */
export function randomish(size: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(size);
  let h = createHash('sha256').update(String(seed)).digest();
  for (let off = 0; off < size; off += 32) {
    h.copy(out, off, 0, Math.min(32, size - off));
    h = createHash('sha256').update(h).digest();
  }
  return out;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
