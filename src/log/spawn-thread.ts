/**
 * Starts one of the logger's threads (the writer, sqlite-worker.ts; the chain helper,
 * chain-worker.ts). Under a TypeScript runner (tests, benchmarks) the sources are .ts and the
 * thread registers tsx itself; the built package runs the compiled .js directly.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';

export function spawnLogThread(
  name: 'sqlite-worker' | 'chain-worker',
  workerData: unknown,
  transferList: TransferListItem[] = [],
): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const target = new URL(`./${name}.ts`, here).href;
    const tsxDir = path.dirname(createRequire(here).resolve('tsx/package.json'));
    const tsx = pathToFileURL(path.join(tsxDir, 'dist/esm/api/index.mjs')).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); })
      .catch((err) => setImmediate(() => { throw err; }));`;
    return new Worker(code, { eval: true, workerData, transferList });
  }
  return new Worker(new URL(`./${name}.js`, here), { workerData, transferList });
}
