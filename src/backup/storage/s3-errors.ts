/**
 * Maps AWS SDK v3 and network errors to StorageErrors with stable codes, a message naming the
 * bucket and endpoint, a hint that names the setting or environment variable to change, and a
 * `transient` flag the retry decorator trusts.
 */
import { StorageError } from '../../errors.js';
import { StorageCode, objectMissing, rangeNotSatisfiable } from './errors.js';

/** Where the failing request went, for messages. */
export interface S3ErrorContext {
  /** "s3://bucket/prefix" */
  url: string;
  bucket: string;
  /** The endpoint as configured, or a description of the default AWS one. */
  endpoint: string;
  /** The operation, in words: "reading", "writing", "listing", ... */
  doing: string;
  key?: string;
  /** First byte of the ranged read that failed, if any. */
  rangeStart?: number;
}

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

const CREDENTIAL_HINT =
  'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or AWS_PROFILE ' +
  'for a profile in ~/.aws/credentials, to keys allowed to list, read, write and delete in the bucket';

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'ProvisionedThroughputExceededException',
]);

const TRANSIENT_SERVER = new Set([
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'PriorRequestNotComplete',
  'OperationAborted',
]);

const AUTH = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'InvalidSecurity',
  'AuthorizationHeaderMalformed',
  'AllAccessDisabled',
  'AccountProblem',
  'CredentialsProviderError',
]);

const RESET = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);
const UNREACHABLE_TRANSIENT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
]);

/** Converts any error from an S3 call into a StorageError (StorageErrors pass through). */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkLikeError;
  const name = e.Code ?? e.name ?? '';
  const errno = e.code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const message = e.message ?? String(err);
  const where = `${ctx.url} (endpoint ${ctx.endpoint})`;
  const what =
    ctx.key === undefined ? `${ctx.doing} ${where}` : `${ctx.doing} object "${ctx.key}" in ${where}`;
  const details: Record<string, unknown> = {
    repository: ctx.url,
    endpoint: ctx.endpoint,
    ...(ctx.key === undefined ? {} : { key: ctx.key }),
    ...(name ? { s3Code: name } : {}),
    ...(status ? { httpStatus: status } : {}),
    ...(errno ? { errno } : {}),
  };
  const make = (code: string, msg: string, hint: string, transient = false) =>
    new StorageError(code, msg, { hint, details, cause: err, transient });

  // --- network level: no HTTP status ---
  if (errno === 'ENOTFOUND') {
    return make(
      StorageCode.unreachable,
      `cannot reach ${where}: the host name does not resolve`,
      'check backup.s3.endpoint (or AWS_ENDPOINT_URL) and the bucket name; with a custom endpoint set backup.s3.forcePathStyle: true',
    );
  }
  if (UNREACHABLE_TRANSIENT.has(errno) || (name === 'TimeoutError' && /establish/i.test(message))) {
    const why = name === 'TimeoutError' ? 'the connection timed out' : `the connection failed (${errno})`;
    return make(
      StorageCode.unreachable,
      `cannot reach ${where}: ${why}`,
      'check that the endpoint is running and reachable from this machine, and that backup.s3.endpoint (or AWS_ENDPOINT_URL) is right',
      true,
    );
  }
  if (name === 'TimeoutError' || errno === 'ETIMEDOUT' || name === 'RequestTimeout') {
    return make(
      StorageCode.timeout,
      `timed out ${what}`,
      'the storage answered too slowly; it usually passes (check the network if it persists)',
      true,
    );
  }
  if (RESET.has(errno) || (/socket hang up|premature close|aborted/i.test(message) && !status)) {
    return make(
      StorageCode.unavailable,
      `the connection to ${where} was dropped while ${ctx.key === undefined ? ctx.doing : `${ctx.doing} "${ctx.key}"`}`,
      'a network or server hiccup; it usually passes',
      true,
    );
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return make(StorageCode.auth, `no AWS credentials found for ${where}`, CREDENTIAL_HINT);
  }
  if (/region is missing/i.test(message)) {
    return make(
      StorageCode.config,
      `no AWS region configured for ${where}`,
      'set backup.s3.region or the AWS_REGION environment variable (e.g. us-east-1)',
    );
  }

  // --- HTTP answers ---
  if (name === 'NoSuchBucket') {
    return make(
      StorageCode.noBucket,
      `bucket "${ctx.bucket}" does not exist at ${ctx.endpoint}`,
      `create it first (e.g. \`aws s3 mb s3://${ctx.bucket}\`, adding --endpoint-url for S3-compatible services), ` +
        'or fix the bucket name in backup.repository',
    );
  }
  if (name === 'NoSuchKey' || (status === 404 && ctx.key !== undefined && name !== 'NoSuchUpload')) {
    return objectMissing(ctx.url, ctx.key ?? '', err);
  }
  if (AUTH.has(name) || status === 401 || status === 403) {
    const reason =
      name === 'InvalidAccessKeyId'
        ? 'the access key id is not known to the server'
        : name === 'SignatureDoesNotMatch'
          ? 'the secret access key does not match the access key id'
          : name === 'ExpiredToken'
            ? 'the session token has expired'
            : 'access was denied';
    return make(StorageCode.auth, `${reason} ${what}`, CREDENTIAL_HINT);
  }
  if (name === 'InvalidRange' || status === 416) {
    return rangeNotSatisfiable(ctx.url, ctx.key ?? '', ctx.rangeStart ?? 0);
  }
  if (name === 'RequestTimeTooSkewed') {
    return make(
      StorageCode.failed,
      `the server refused ${what}: this machine's clock is too far off`,
      'set the system clock right (e.g. enable NTP with `timedatectl set-ntp true`)',
    );
  }
  if (name === 'ConditionalRequestConflict' || status === 409) {
    // A concurrent conditional write to the same key: retrying settles who won.
    return make(StorageCode.unavailable, `a concurrent write conflicted ${what}`, 'it passes: retry', true);
  }
  if (THROTTLING.has(name) || status === 429 || e.$retryable?.throttling) {
    return make(
      StorageCode.unavailable,
      `the storage is throttling requests ${what}`,
      'it passes: retry later',
      true,
    );
  }
  if (TRANSIENT_SERVER.has(name) || (status !== undefined && status >= 500 && status !== 501)) {
    return make(
      StorageCode.unavailable,
      `the storage failed ${what} (${status ?? '?'} ${name || 'server error'})`,
      'a server-side failure; it usually passes',
      true,
    );
  }
  if (name === 'NotImplemented' || status === 501) {
    return make(
      StorageCode.unsupported,
      `the storage does not implement what was asked ${what}: ${message}`,
      'this S3-compatible service lacks a feature safetynet uses; please report it',
    );
  }
  return make(
    StorageCode.failed,
    `the storage refused ${what}: ${status ?? ''} ${name} ${message}`.replace(/\s+/g, ' ').trim(),
    'check the bucket, its policy and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)',
  );
}
