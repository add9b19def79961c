/**
 * A real S3-compatible server on loopback for tests: s3rver, in its own child process, on a random
 * free port, storing into a temp folder. Plus a real HTTP proxy that can be put in front of it to
 * inject faults (503s, dropped connections) for retry tests.
 *
 * Why a child process: s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 (Node
 * 17+) disables; listings of more than one page fail with a 500 unless the server runs with
 * `--openssl-legacy-provider`. A separate process also keeps its CPU off the test's event loop.
 *
 * s3rver accepts the access key id "S3RVER" (secret "S3RVER"); it rejects unknown key ids
 * (InvalidAccessKeyId) but does not verify SigV4 signatures, so a wrong secret goes unnoticed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3TestServer {
  /** e.g. "http://127.0.0.1:41234" */
  endpoint: string;
  /** A bucket created at start. */
  bucket: string;
  /** Environment variables for the SDK (credentials, region) to pass to createStorage or a CLI child. */
  env: Record<string, string>;
  /** `backup.repository` + `backup.s3` for a repository under `prefix` in the bucket. */
  config(prefix: string): {
    repository: string;
    s3: { endpoint: string; region: string; forcePathStyle: boolean };
  };
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

// The child: starts s3rver with the bucket, prints the port as one JSON line, exits when stdin closes
// (so a crashed test run never leaves servers behind).
const CHILD = `
const S3rver = require(process.argv[1]);
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2],
  configureBuckets: [{ name: process.argv[3] }],
});
server.run().then((addr) => {
  process.stdout.write(JSON.stringify({ port: addr.port }) + '\\n');
}, (err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/** Starts s3rver on a free loopback port with `bucket` created. */
export async function startS3Server(options: { bucket?: string } = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? 'test-bucket';
  const dir = mkdtempSync(path.join(tmpdir(), 'safetynet-s3rver-'));
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD, s3rverPath, dir, bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let port: number;
  try {
    port = await readPort(child);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const env = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
  return {
    endpoint,
    bucket,
    env,
    config: (prefix) => ({
      repository: `s3://${bucket}${prefix ? '/' + prefix : ''}`,
      s3: { endpoint, region: 'us-east-1', forcePathStyle: true },
    }),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.stdin?.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 10 s: ${err}`)), 10_000);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line) as { port: number }).port);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code} before starting: ${err}`));
    });
  });
}

/** What the fault proxy does with one request. */
export type FaultAction =
  | 'pass'
  /** Answer with this status and an S3 XML error body (e.g. 503 SlowDown, 500 InternalError). */
  | { status: number; code: string }
  /** Destroy the client's socket without answering (a dropped connection). */
  | 'drop'
  /** Forward the request, then drop the connection halfway through the response body. */
  | 'drop-mid-body'
  /** Forward the request (the server acts on it), then drop the connection instead of answering. */
  | 'drop-response'
  /** Read the request and never answer (for timeouts). */
  | 'hang'
  /** Forward the request after this delay (a slow answer). */
  | { delayMs: number };

export interface FaultRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** 0-based index among all requests the proxy received. */
  index: number;
}

export interface FaultProxy {
  endpoint: string;
  /** Every request seen, in order, with what was done to it. */
  log: { method: string; url: string; action: string }[];
  close(): Promise<void>;
}

/**
 * A real loopback HTTP proxy in front of `target`: each request is forwarded unchanged unless
 * `decide` returns a fault for it. Requests are signed for the proxy's host, which s3rver accepts
 * (it does not check SigV4 signatures).
 */
export async function startFaultProxy(
  target: string,
  decide: (req: FaultRequest) => FaultAction,
): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const log: FaultProxy['log'] = [];
  let index = 0;
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const action = decide({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      index: index++,
    });
    log.push({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      action:
        typeof action === 'string'
          ? action
          : 'delayMs' in action
            ? `slow ${action.delayMs}`
            : String(action.status),
    });
    if (typeof action === 'object' && 'delayMs' in action) {
      req.pause();
      setTimeout(() => handle('pass'), action.delayMs);
      return;
    }
    handle(action);

    function handle(action: Exclude<FaultAction, { delayMs: number }>): void {
      if (action === 'drop') {
        req.socket.destroy();
        return;
      }
      if (action === 'hang') {
        req.resume();
        return;
      }
      if (typeof action === 'object') {
        // Drain the body first so the client is not left writing into a closed socket.
        req.resume();
        req.on('end', () => {
          const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${action.code}</Code><Message>injected by the test proxy</Message></Error>`;
          res.writeHead(action.status, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(body),
          });
          res.end(body);
        });
        return;
      }
      const upstream = http.request(
        {
          host: targetUrl.hostname,
          port: targetUrl.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (up) => {
          if (action === 'drop-response') {
            up.resume();
            up.on('end', () => res.socket?.destroy());
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (action === 'drop-mid-body') {
            let sent = 0;
            const limit = Number(up.headers['content-length'] ?? 0) / 2;
            up.on('data', (chunk: Buffer) => {
              if (sent + chunk.length >= limit) {
                res.write(chunk.subarray(0, Math.max(0, Math.floor(limit - sent))));
                res.socket?.destroy();
                up.destroy();
                return;
              }
              sent += chunk.length;
              res.write(chunk);
            });
            up.on('end', () => res.end());
            return;
          }
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.socket?.destroy());
      req.pipe(upstream);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
