#!/usr/bin/env node
/**
 * `npm start`: the demo on embedded defaults.
 *
 *   1. builds the CLI when dist/ is missing or older than src/ (a fresh clone is built by
 *      `npm install` already, through the `prepare` script);
 *   2. runs `safetynet demo init` (idempotent: creates what is missing of demo/, keeps the rest);
 *   3. starts `safetynet serve` (scheduler + admin panel) and `safetynet demo activity` (the
 *      simulated shop) as child processes, prints the URL and, on the first run, the admin password;
 *   4. passes Ctrl-C / SIGTERM on to both (once), and exits when serve exits.
 *
 * Options (after `npm start --`): --dir DIR (default demo), --interval DURATION (default 3s),
 * --no-activity (the panel and scheduler only), --no-build (run dist/ as it is, even if src/ is
 * newer). The PORT environment variable moves the admin panel.
 *
 * Plain Node 20, no dependencies: this file runs before anything else is known to work.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist', 'cli', 'main.js');
const say = (line = '') => process.stdout.write(line + '\n');
const warn = (line) => process.stderr.write(`npm start: ${line}\n`);

function parseOptions() {
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        dir: { type: 'string', default: 'demo' },
        interval: { type: 'string', default: '3s' },
        'no-activity': { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
    return values;
  } catch (err) {
    warn(`${err.message}`);
    warn('usage: npm start [-- --dir DIR] [--interval 3s] [--no-activity] [--no-build]');
    process.exit(2);
  }
}

/** Newest modification time of any file below `dir` (0 when it does not exist). */
function newestMtime(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/ with the project's TypeScript when it is missing or older than src/. */
function ensureBuilt() {
  const built = existsSync(cli) ? statSync(cli).mtimeMs : 0;
  const sources = newestMtime(path.join(root, 'src'));
  if (built && (sources === 0 || built >= sources)) return;
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    if (built) {
      warn(
        'src/ is newer than dist/, but TypeScript is not installed to rebuild it; running the existing build',
      );
      return;
    }
    warn('dist/ is missing and TypeScript is not installed: run "npm install" first (it builds dist/)');
    process.exit(1);
  }
  say(built ? 'Rebuilding (src/ changed since the last build)...' : 'Building (dist/ is missing)...');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (!existsSync(cli)) {
    warn('the build did not produce dist/cli/main.js; see the errors above');
    process.exit(1);
  }
  // tsc emits even with type errors; say so, but a demo that runs is more use than none.
  if (r.status !== 0) warn('the build reported errors (see above); starting the demo with what was built');
}

/** True when something accepts TCP connections on host:port. */
function listening(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function startChild(args) {
  // A process group of its own: a Ctrl-C in the terminal reaches this script only, which passes it
  // on exactly once. (serve treats a second SIGINT as "die now", and npm forwards the signal too.)
  return spawn(process.execPath, [cli, ...args], {
    cwd: process.cwd(),
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function alive(child) {
  return child && child.exitCode === null && child.signalCode === null;
}

async function main() {
  const opts = parseOptions();
  if (opts.help) {
    say('usage: npm start [-- --dir DIR] [--interval 3s] [--no-activity] [--no-build]   (docs/demo.md)');
    return 0;
  }
  if (!opts['no-build'] || !existsSync(cli)) ensureBuilt();

  // 1. The demo folder. Its JSON report carries the password of a newly created admin account.
  const init = spawnSync(process.execPath, [cli, 'demo', 'init', '--dir', opts.dir, '--json'], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (init.status !== 0) {
    warn(`"safetynet demo init" failed (exit ${init.status ?? init.signal}); nothing was started`);
    return init.status || 1;
  }
  const report = JSON.parse(init.stdout);
  const { formatInitReport, formatCredentials } = await import(
    pathToFileURL(path.join(root, 'dist', 'demo', 'report.js')).href
  );
  for (const line of formatInitReport(report)) say(line);
  say();
  const credentials = formatCredentials(report);
  for (const line of credentials) say(line);
  say();

  // 2. The admin panel's port must be free, or the "ready" check below would greet another program.
  const url = new URL(report.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port);
  if (await listening(host, port)) {
    warn(`something already listens on ${host}:${port} (another "npm start"?)`);
    warn(`stop it, or run the demo on another port: PORT=${port + 1} npm start`);
    return 3;
  }

  // 3. serve and the simulated shop.
  const configArgs = ['--config', report.configFile];
  const serve = startChild([...configArgs, 'serve']);
  const activity = opts['no-activity']
    ? null
    : startChild([...configArgs, 'demo', 'activity', '--interval', opts.interval, '--showcase']);
  const children = [serve, activity].filter(Boolean);

  let stopping = false;
  let lastSignalAt = 0;
  let forceRequests = 0;
  const onSignal = (signal) => {
    const now = Date.now();
    if (!stopping) {
      stopping = true;
      lastSignalAt = now;
      say(
        `\nStopping the demo (${signal}): serve lets a running backup finish cleanly; the data in ${opts.dir}/ stays.`,
      );
      for (const c of children) if (alive(c)) c.kill(signal);
      return;
    }
    // The same Ctrl-C often arrives twice (from the terminal and from npm): ignore the echo.
    if (now - lastSignalAt < 1500) return;
    lastSignalAt = now;
    forceRequests++;
    if (forceRequests === 1) {
      say(
        'Still stopping. Press Ctrl-C once more to kill it now (a backup in progress is abandoned; none is half-written).',
      );
      return;
    }
    say('Killing the demo processes.');
    for (const c of children) if (alive(c)) c.kill('SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal: the children live in their own process groups and would not notice.
  process.on('SIGHUP', () => onSignal('SIGTERM'));
  // Whatever happens to this script, do not leave the children running on their own.
  process.on('exit', () => {
    for (const c of children) if (alive(c)) c.kill('SIGTERM');
  });

  if (activity) {
    void exited(activity).then(({ code, signal }) => {
      if (!stopping && alive(serve)) {
        warn(`the simulated shop stopped (exit ${code ?? signal}); the admin panel keeps running`);
      }
    });
  }

  // 4. Tell the user when the panel answers.
  const serveDone = exited(serve);
  const deadline = Date.now() + 60_000;
  let ready = false;
  while (!ready && !stopping && alive(serve) && Date.now() < deadline) {
    await delay(250);
    ready = await listening(host, port);
  }
  if (ready && !stopping) {
    say();
    say(
      `Ready: ${report.url}  (user "${report.admin.user}"${report.admin.created ? ', password above' : ''})`,
    );
    say('The first backups start within seconds; the Backups page shows them. Ctrl-C stops the demo;');
    say(`"npm start" again resumes it with the same data. To start over: stop it and delete ${opts.dir}/.`);
  } else if (!stopping && alive(serve)) {
    warn(`the admin panel did not answer on ${report.url} within 60 s; serve is still running`);
  }

  const { code, signal } = await serveDone;
  if (!stopping) {
    warn(`serve stopped (exit ${code ?? signal})${code === 2 ? '; see its message above' : ''}`);
    if (report.admin.created) for (const line of credentials) say(line); // the password must not be lost
  }
  if (alive(activity)) {
    activity.kill('SIGTERM');
    const timer = setTimeout(() => alive(activity) && activity.kill('SIGKILL'), 10_000);
    await exited(activity);
    clearTimeout(timer);
  }
  if (code !== null) return code;
  return stopping ? 0 : 1;
}

process.exitCode = await main();
