/**
 * S3Storage: the repository in an S3-compatible bucket (AWS S3, MinIO, R2, B2, ...), through the
 * AWS SDK v3. Keys are stored under the URL's prefix: key "data/ab/x" of s3://bucket/shop is the
 * S3 object "shop/data/ab/x".
 *
 * - Small buffers go up as one PutObject; streamed bodies go through lib-storage's Upload
 *   (multipart with parts of at least 8 MiB, or one PutObject when the stream fits in one part),
 *   so a large object never sits whole in memory. A stream cannot be replayed, so the parts (which
 *   are buffers) are retried one by one with the same backoff policy as the retry decorator.
 * - Every other request is sent once (SDK retries off): the withRetries decorator is the single
 *   retry layer, so attempts do not multiply.
 * - `ifAbsent` sends `If-None-Match: *` (atomic where the server honours it); a HEAD first avoids
 *   uploading a body that cannot be stored. Whether the server honours the header is learnt by
 *   `probe('write')` (s3rver, for one, ignores it) and reported as `capabilities.atomicCreate`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StorageError } from '../../errors.js';
import { StorageCode, assertValidRange, objectExists, rangeNotSatisfiable, sizeMismatch } from './errors.js';
import { assertValidKey, assertValidPrefix, isReservedKey } from './keys.js';
import { DEFAULT_RETRY_POLICY, backoffDelay, type RetryPolicy } from './retry.js';
import { mapS3Error } from './s3-errors.js';
import type {
  ByteRange,
  ListOptions,
  ObjectInfo,
  ProbeMode,
  PutBody,
  PutOptions,
  Storage,
  StorageCapabilities,
} from './types.js';

const MiB = 1024 * 1024;
/** S3 allows at most 10,000 parts; we aim a little below. */
const TARGET_MAX_PARTS = 9_000;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing "/" ("" for the bucket root). */
  prefix?: string;
  /** Custom endpoint for S3-compatible services, e.g. "http://127.0.0.1:9000". */
  endpoint?: string;
  /** Region; when unset the SDK's chain (AWS_REGION, ~/.aws/config) decides. */
  region?: string;
  /** Path-style URLs (endpoint/bucket/key) instead of virtual hosts (bucket.endpoint/key). */
  forcePathStyle?: boolean;
  /** Explicit credentials; when unset the SDK's default chain (env, profile, SSO, instance role) decides. */
  credentials?: S3Credentials;
  /** Give up connecting after this long (default 5 s). */
  connectTimeoutMs?: number;
  /** Give up on a socket idle this long (default 60 s). */
  socketTimeoutMs?: number;
  /** Part size for multipart uploads of streams of unknown size (default 16 MiB; at least 8 MiB). */
  partSizeBytes?: number;
  /** Buffers larger than this go up as multipart uploads (default 64 MiB). */
  multipartThresholdBytes?: number;
  /** Parts in flight per upload (default 4). */
  uploadConcurrency?: number;
  /** Retries of the parts of streamed uploads (the decorator cannot replay a stream). */
  partRetry?: Partial<RetryPolicy>;
  /** Listing page size (S3's maximum and default is 1000). */
  listPageSize?: number;
  /**
   * Whether the server honours `If-None-Match: *` on writes. Unset: unknown until `probe('write')`
   * finds out; true/false: trust the caller and skip detection.
   */
  conditionalWrites?: boolean;
}

/** What we know about the server's conditional writes. */
type ConditionalSupport = 'unknown' | 'supported' | 'ignored' | 'rejected';

/**
 * The upload in progress, seen from deep inside the SDK: its key (for retry events) and the request
 * failure that ended it (lib-storage reports a failed AbortMultipartUpload instead, when that fails too).
 */
interface UploadContext {
  key: string;
  failure?: { raw: unknown; mapped: StorageError };
}
const uploadContext = new AsyncLocalStorage<UploadContext>();

/** Carries an error thrown by the caller's body through the upload, to be rethrown unchanged. */
class BodyFailure {
  constructor(readonly original: unknown) {}
}

export class S3Storage implements Storage {
  readonly url: string;
  readonly localPath = undefined;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly endpointLabel: string;
  private readonly client: S3Client;
  private readonly partClient: S3Client;
  private readonly partSize: number;
  private readonly multipartThreshold: number;
  private readonly uploadConcurrency: number;
  private readonly listPageSize: number;
  private conditional: ConditionalSupport;
  /** Set once any request proved the bucket exists; a HEAD 404 cannot tell a missing bucket from a missing key. */
  private bucketSeen = false;

  constructor(options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.url = `s3://${this.bucket}${this.prefix ? '/' + this.prefix : ''}`;
    this.endpointLabel = options.endpoint ?? `AWS S3${options.region ? ` (${options.region})` : ''}`;
    this.partSize = Math.max(8 * MiB, options.partSizeBytes ?? 16 * MiB);
    this.multipartThreshold = options.multipartThresholdBytes ?? 64 * MiB;
    this.uploadConcurrency = Math.max(1, options.uploadConcurrency ?? 4);
    this.listPageSize = Math.min(1000, Math.max(1, options.listPageSize ?? 1000));
    this.conditional =
      options.conditionalWrites === undefined
        ? 'unknown'
        : options.conditionalWrites
          ? 'supported'
          : 'rejected';

    // The SDK warns on every start that future versions will need Node 22; on Node 20 it works,
    // and the warning would print on every CLI run. Respect an explicit setting.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

    const config: S3ClientConfig = {
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        socketTimeout: options.socketTimeoutMs ?? 60_000,
      },
      // Many S3-compatible services mishandle the checksums the SDK adds by default since
      // 2025 (CRC32 trailers); our objects carry their own authentication (age) anyway.
      ...(options.endpoint
        ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
    };
    this.client = new S3Client({ ...config, maxAttempts: 1 });
    const partPolicy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.partRetry };
    this.partClient = new S3Client({
      ...config,
      requestHandler: this.client.config.requestHandler, // one connection pool for both
      maxAttempts: partPolicy.attempts,
      retryStrategy: new PolicyRetryStrategy(partPolicy, (err, key) => this.fail(err, 'writing', key)),
    });
  }

  get capabilities(): StorageCapabilities {
    return { atomicCreate: this.conditional === 'supported', local: false };
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    if (body instanceof Uint8Array && options.size !== undefined && options.size !== body.byteLength) {
      throw sizeMismatch(this.url, key, options.size, body.byteLength);
    }
    // Cheap early refusal: do not upload a large body that cannot be stored.
    if (options.ifAbsent && (await this.head(key))) throw objectExists(this.url, key);
    const conditional = options.ifAbsent === true && this.conditional !== 'rejected';
    try {
      await this.upload(key, body, options.size, conditional);
    } catch (err) {
      if (err instanceof BodyFailure) throw err.original;
      if (conditional && isPreconditionFailure(err)) {
        this.conditional = 'supported';
        throw objectExists(this.url, key, err);
      }
      const mapped = this.fail(err, 'writing', key);
      if (conditional && mapped.code === StorageCode.unsupported) {
        // The server refuses the header outright: remember, and write without it.
        this.conditional = 'rejected';
        if (body instanceof Uint8Array) return this.put(key, body, options);
      }
      throw mapped;
    }
    this.bucketSeen = true;
  }

  async get(key: string): Promise<Buffer> {
    assertValidKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      );
      this.bucketSeen = true;
      if (!out.Body) return Buffer.alloc(0);
      const bytes = await out.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      throw this.fail(err, 'reading', key);
    }
  }

  async getInto(key: string, dest: Uint8Array): Promise<number> {
    assertValidKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      );
      this.bucketSeen = true;
      if (!out.Body) return 0;
      // Copy the body's pieces into place as they arrive; past the end of `dest`, only count.
      let size = 0;
      for await (const piece of out.Body as unknown as AsyncIterable<Uint8Array>) {
        if (size < dest.length) dest.set(piece.subarray(0, dest.length - size), size);
        size += piece.length;
      }
      return size;
    } catch (err) {
      throw this.fail(err, 'reading', key);
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    assertValidKey(key);
    if (range) assertValidRange(range);
    let body: AsyncIterable<Buffer> & { destroy?: () => void };
    let window: { skip: number; take: number } | undefined;
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.fullKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      this.bucketSeen = true;
      if (!out.Body) return (async function* () {})();
      body = out.Body as unknown as AsyncIterable<Buffer> & { destroy?: () => void };
      if (range) {
        try {
          window = this.rangeWindow(key, range, out.ContentRange, out.ContentLength);
        } catch (err) {
          body.destroy?.();
          throw err;
        }
      }
    } catch (err) {
      throw this.fail(err, 'reading', key, range?.start);
    }
    const fail = (err: unknown) => this.fail(err, 'reading', key);
    return (async function* () {
      try {
        if (!window) {
          for await (const chunk of body) yield chunk;
          return;
        }
        let { skip, take } = window;
        for await (const chunk of body) {
          let piece = chunk;
          if (skip > 0) {
            const drop = Math.min(skip, piece.length);
            piece = piece.subarray(drop);
            skip -= drop;
          }
          if (piece.length > take) piece = piece.subarray(0, take);
          take -= piece.length;
          if (piece.length > 0) yield piece;
          if (take === 0) return;
        }
      } catch (err) {
        throw fail(err);
      } finally {
        body.destroy?.();
      }
    })();
  }

  /**
   * What to cut from a ranged response so the caller gets exactly the bytes asked for. Servers
   * that ignore Range (answering 200 with the whole object) or widen it (s3rver serves the whole
   * object for "bytes=0-0") would otherwise hand back the wrong bytes without any error.
   */
  private rangeWindow(
    key: string,
    range: ByteRange,
    contentRange: string | undefined,
    contentLength: number | undefined,
  ): { skip: number; take: number } | undefined {
    const m = contentRange ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim()) : null;
    const servedStart = m ? Number(m[1]) : 0;
    const servedLength = m ? Number(m[2]) - servedStart + 1 : contentLength;
    const size = m ? (m[3] === '*' ? undefined : Number(m[3])) : contentLength;
    if (size !== undefined && range.start >= size)
      throw rangeNotSatisfiable(this.url, key, range.start, size);
    if (servedStart > range.start) {
      throw new StorageError(
        StorageCode.failed,
        `the storage answered a read of object "${key}" in ${this.url} from byte ${range.start} with bytes from ${servedStart}`,
        {
          hint: 'the S3-compatible service or a proxy mishandles HTTP ranges',
          details: { key, contentRange },
        },
      );
    }
    const end = size !== undefined ? Math.min(range.end, size - 1) : range.end;
    const take = end - range.start + 1;
    const skip = range.start - servedStart;
    if (skip === 0 && servedLength !== undefined && servedLength <= take) return undefined;
    return { skip, take };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }),
      );
      this.bucketSeen = true;
      return {
        key,
        size: out.ContentLength ?? 0,
        ...(out.LastModified ? { lastModified: out.LastModified.getTime() } : {}),
      };
    } catch (err) {
      const mapped = this.fail(err, 'reading', key);
      if (mapped.code !== StorageCode.objectMissing) throw mapped;
      // HEAD answers a bare 404 for a missing bucket too: make sure it is only the key.
      if (!this.bucketSeen) await this.checkBucket();
      return undefined;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    const base = this.prefix ? this.prefix + '/' : '';
    let token: string | undefined;
    let first = true;
    do {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base + prefix,
            MaxKeys: this.listPageSize,
            ...(token ? { ContinuationToken: token } : {}),
            ...(first && options.startAfter !== undefined ? { StartAfter: base + options.startAfter } : {}),
          }),
        );
      } catch (err) {
        throw this.fail(err, 'listing');
      }
      this.bucketSeen = true;
      first = false;
      for (const o of out.Contents ?? []) {
        if (!o.Key?.startsWith(base)) continue;
        const key = o.Key.slice(base.length);
        if (key === '' || isReservedKey(key)) continue;
        yield {
          key,
          size: o.Size ?? 0,
          ...(o.LastModified ? { lastModified: o.LastModified.getTime() } : {}),
        };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
    } catch (err) {
      const mapped = this.fail(err, 'deleting', key);
      if (mapped.code !== StorageCode.objectMissing) throw mapped;
    }
  }

  async probe(mode: ProbeMode = 'write'): Promise<void> {
    await this.checkBucket();
    if (mode === 'read') return;
    // A real write under the reserved ".probe/" name (never listed), read back, then removed.
    const probeKey = this.fullKey(`.probe/${randomBytes(8).toString('hex')}`);
    const payload = randomBytes(16);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: probeKey, Body: payload }));
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: probeKey }));
      const back = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
      if (!back.equals(payload)) {
        throw new StorageError(
          StorageCode.failed,
          `a test object written to ${this.url} read back different`,
          {
            hint: 'the S3-compatible service or a proxy in between alters data: check its configuration',
          },
        );
      }
      if (this.conditional === 'unknown') this.conditional = await this.detectConditionalWrites(probeKey);
    } catch (err) {
      throw this.fail(err, 'writing a test object to');
    } finally {
      await this.client
        .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: probeKey }))
        .catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.partClient.destroy();
  }

  // ---- internals -------------------------------------------------------------------------

  private fullKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private fail(err: unknown, doing: string, key?: string, rangeStart?: number): StorageError {
    return mapS3Error(err, {
      url: this.url,
      bucket: this.bucket,
      endpoint: this.endpointLabel,
      doing,
      ...(key === undefined ? {} : { key }),
      ...(rangeStart === undefined ? {} : { rangeStart }),
    });
  }

  /** One cheap listing: proves the endpoint, the credentials and the bucket. */
  private async checkBucket(): Promise<void> {
    try {
      await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          MaxKeys: 1,
          ...(this.prefix ? { Prefix: this.prefix + '/' } : {}),
        }),
      );
    } catch (err) {
      throw this.fail(err, 'listing');
    }
    this.bucketSeen = true;
  }

  /** Writes the probe object again with If-None-Match: * — a 412 proves the server honours it. */
  private async detectConditionalWrites(fullKey: string): Promise<ConditionalSupport> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: fullKey, Body: Buffer.from('x'), IfNoneMatch: '*' }),
      );
      return 'ignored';
    } catch (err) {
      if (isPreconditionFailure(err)) return 'supported';
      const mapped = this.fail(err, 'writing a test object to');
      if (mapped.code === StorageCode.unsupported || mapped.code === StorageCode.failed) return 'rejected';
      throw err;
    }
  }

  private async upload(
    key: string,
    body: PutBody,
    size: number | undefined,
    conditional: boolean,
  ): Promise<void> {
    const Key = this.fullKey(key);
    const ifNoneMatch = conditional ? { IfNoneMatch: '*' } : {};
    if (body instanceof Uint8Array && body.byteLength <= this.multipartThreshold) {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: body,
          ContentLength: body.byteLength,
          ...ifNoneMatch,
        }),
      );
      return;
    }
    let sourceError: { error: unknown } | undefined;
    const stream =
      body instanceof Uint8Array
        ? undefined
        : Readable.from(guardBody(body, size, (e) => (sourceError = { error: e }), this.url, key));
    const partSize =
      size !== undefined ? Math.max(8 * MiB, Math.ceil(size / TARGET_MAX_PARTS)) : this.partSize;
    const upload = new Upload({
      // Buffers can be replayed whole by the decorator, so their parts are not retried here.
      client: body instanceof Uint8Array ? this.client : this.partClient,
      params: {
        Bucket: this.bucket,
        Key,
        Body: stream ?? (body as Uint8Array),
        ...ifNoneMatch,
      },
      partSize,
      queueSize: this.uploadConcurrency,
      leavePartsOnError: false,
    });
    const context: UploadContext = { key };
    try {
      await uploadContext.run(context, () => upload.done());
    } catch (err) {
      // The body's own failure (or a size mismatch) is the cause; anything after it is fallout.
      if (sourceError) throw new BodyFailure(sourceError.error);
      // The request that failed for good is the cause, not the "aborted" or failed abort after it.
      if (context.failure) {
        throw isPreconditionFailure(context.failure.raw) ? context.failure.raw : context.failure.mapped;
      }
      throw err;
    } finally {
      // After a failure the body may be half read: stopping it lets its producer release what it holds.
      stream?.destroy();
    }
  }
}

/**
 * Passes a body through, noting errors the body itself throws (not errors thrown into this
 * generator when the upload stops reading) and checking its length against `size`.
 */
async function* guardBody(
  body: AsyncIterable<Uint8Array>,
  size: number | undefined,
  onError: (err: unknown) => void,
  url: string,
  key: string,
): AsyncIterable<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let finished = false;
  let total = 0;
  try {
    while (true) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (err) {
        finished = true; // a throwing iterator is done; do not call return() on it
        onError(err);
        throw err;
      }
      if (next.done) {
        finished = true;
        break;
      }
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array)) {
        const err = new TypeError('put body yielded a non-binary chunk');
        onError(err);
        throw err;
      }
      total += chunk.byteLength;
      yield chunk;
    }
  } finally {
    // Stopped early (the upload failed or was aborted): let the producer release what it holds.
    if (!finished) await it.return?.();
  }
  if (size !== undefined && total !== size) {
    const err = sizeMismatch(url, key, size, total);
    onError(err);
    throw err;
  }
}

function isPreconditionFailure(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

/**
 * The SDK's RetryStrategyV2, driven by our policy: used only for the parts of streamed uploads.
 * It decides with the same error mapping as the decorator and sleeps itself (returning zero
 * delay), so tests can inject `sleep` and callers see every retry through `onRetry`.
 */
class PolicyRetryStrategy {
  constructor(
    private readonly policy: RetryPolicy,
    private readonly describe: (err: unknown, key?: string) => StorageError,
  ) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return token(0);
  }

  async refreshRetryTokenForRetry(previous: RetryToken, info: { error?: unknown }): Promise<RetryToken> {
    const attempt = previous.getRetryCount() + 1; // attempts made so far
    const context = uploadContext.getStore();
    const error = this.describe(info.error, context?.key);
    if (!error.transient || attempt >= Math.max(1, this.policy.attempts)) {
      if (context && !context.failure) context.failure = { raw: info.error, mapped: error };
      throw error;
    }
    const delayMs = backoffDelay(this.policy, attempt);
    const key = context?.key;
    this.policy.onRetry?.({ operation: 'put-part', ...(key ? { key } : {}), attempt, delayMs, error });
    await (this.policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))))(delayMs);
    return token(attempt);
  }

  recordSuccess(): void {}
}

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

function token(count: number): RetryToken {
  return { getRetryCount: () => count, getRetryDelay: () => 0 };
}
