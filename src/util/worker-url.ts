/**
 * Where to start a worker thread from: the compiled .js next to the caller (dist), or, when running
 * from the .ts sources (tests, benchmarks via tsx), a tiny bootstrap that registers tsx in the new
 * thread first (a worker does not inherit the parent's module loaders, and `--import` in execArgv
 * is not honoured).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The URL to pass to `new Worker()` for the module `name` (without extension) beside `from`. */
export function workerUrl(from: string, name: string): URL {
  if (!from.endsWith('.ts')) return new URL(`./${name}.js`, from);
  // tsx's ESM API registers its hooks in the calling thread. createRequire would pick the
  // package's "require" flavour, so take the "import" one from its exports map.
  const pkgFile = createRequire(from).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const api = new URL(pkg.exports['./esm/api']!.import.default, pathToFileURL(pkgFile)).href;
  const target = new URL(`./${name}.ts`, from).href;
  const code = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(target)});`;
  return new URL('data:text/javascript,' + encodeURIComponent(code));
}
