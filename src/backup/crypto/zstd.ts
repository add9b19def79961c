/**
 * zstd through zstd-napi's native bindings, used directly: single-pass compression into a reused
 * scratch buffer, and streaming both ways with sinks instead of Node streams, so the age layer
 * can consume the bytes without extra copies or stream overhead.
 *
 * Frames carry the content size (when known) and an XXH64 checksum: `zstd -d` then checks the data
 * on its own too, for 4 bytes per frame.
 */
import binding from 'zstd-napi/binding.js';
import { corruptError, type ObjectContext } from './errors.js';

/** The level objects are compressed with unless told otherwise (chosen by bench/crypto; see docs/crypto.md). */
export const DEFAULT_ZSTD_LEVEL = 1;

export function checkLevel(level: number): number {
  if (!Number.isInteger(level) || level < binding.minCLevel() || level > binding.maxCLevel()) {
    throw new RangeError(
      `zstd level must be an integer from ${binding.minCLevel()} to ${binding.maxCLevel()}, not ${level}`,
    );
  }
  return level;
}

function newCCtx(level: number, pledged?: number): binding.CCtx {
  const cctx = new binding.CCtx();
  cctx.setParameter(binding.CParameter.compressionLevel, level);
  cctx.setParameter(binding.CParameter.checksumFlag, 1);
  if (pledged !== undefined) cctx.setPledgedSrcSize(pledged);
  return cctx;
}

// One context and one scratch output buffer per thread, reused across calls: allocating a
// compressBound-sized buffer per 8 MiB part would churn memory for nothing.
let sharedCCtx: { cctx: binding.CCtx; level: number } | null = null;
let scratch: Buffer = Buffer.alloc(0);
const MAX_SCRATCH_BYTES = 32 * 1024 * 1024;
/** Above this, a frame's declared content size is not trusted for a single up-front allocation. */
const MAX_PREALLOCATED_BYTES = 256 * 1024 * 1024;

/**
 * Compresses `plain` as one zstd frame and returns a view of a scratch buffer that is only valid
 * until the next call on this thread (callers encrypt it right away).
 */
export function compressToScratch(plain: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Buffer {
  if (!sharedCCtx || sharedCCtx.level !== level) sharedCCtx = { cctx: newCCtx(level), level };
  const bound = binding.compressBound(plain.length);
  // Keep a scratch buffer for part-sized inputs only; a one-off huge input gets its own buffer
  // rather than pinning that much memory for the life of the thread.
  if (bound > MAX_SCRATCH_BYTES) {
    const dest = Buffer.allocUnsafe(bound);
    return dest.subarray(0, sharedCCtx.cctx.compress2(dest, plain));
  }
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, 64 * 1024));
  const n = sharedCCtx.cctx.compress2(scratch, plain);
  return scratch.subarray(0, n);
}

/** Streaming compressor: `write` and `end` pass compressed views (valid during the call) to `sink`. */
export class ZstdCompressor {
  private readonly cctx: binding.CCtx;
  private readonly out = Buffer.allocUnsafe(binding.cStreamOutSize());

  constructor(
    level: number,
    private readonly sink: (compressed: Buffer) => void,
  ) {
    this.cctx = newCCtx(level);
  }

  private run(input: Uint8Array, op: binding.EndDirective): void {
    let src = input;
    for (;;) {
      const [remaining, produced, consumed] = this.cctx.compressStream2(this.out, src, op);
      if (produced > 0) this.sink(this.out.subarray(0, produced));
      src = src.subarray(consumed);
      // continue: done once the input is consumed; end: done once zstd reports nothing left to flush.
      if (op === binding.EndDirective.continue ? src.length === 0 : remaining === 0) return;
    }
  }

  write(data: Uint8Array): void {
    if (data.length) this.run(data, binding.EndDirective.continue);
  }

  end(): void {
    this.run(Buffer.alloc(0), binding.EndDirective.end);
  }
}

/**
 * Streaming decompressor. `feed` yields output buffers the caller may keep, lazily, so a caller
 * can stop between pieces for backpressure: a few KiB of zstd can expand to gigabytes (long runs
 * of zero pages do), and nothing should force all of that into memory at once. `end` fails when
 * the stream stops inside a frame or holds no frame at all.
 */
export class ZstdDecompressor {
  private readonly dctx = new binding.DCtx();
  private readonly outSize = binding.dStreamOutSize();
  private inFrame = false;
  private frames = 0;
  private total = 0;

  constructor(
    private readonly ctx: ObjectContext = {},
    private readonly maxBytes = Infinity,
  ) {}

  *feed(data: Uint8Array): Generator<Buffer> {
    let src = data;
    for (;;) {
      const out = Buffer.allocUnsafe(this.outSize);
      let ret: number, produced: number, consumed: number;
      try {
        [ret, produced, consumed] = this.dctx.decompressStream(out, src);
      } catch (err) {
        throw corruptError(`its zstd data is invalid (${(err as Error).message})`, this.ctx, err);
      }
      src = src.subarray(consumed);
      // ret 0: a frame just ended. A call that neither read nor wrote anything (flushing after the
      // output buffer filled up exactly) says nothing about frames, whatever it returns.
      if (consumed > 0 || produced > 0) {
        if (ret === 0) {
          this.frames++;
          this.inFrame = false;
        } else {
          this.inFrame = true;
        }
      } else if (ret === 0 && this.inFrame) {
        this.frames++;
        this.inFrame = false;
      }
      if (produced > 0) {
        this.total += produced;
        if (this.total > this.maxBytes)
          throw corruptError(`it decompresses to more than ${this.maxBytes} bytes`, this.ctx);
        // Keep small outputs compact; hand large ones over as they are.
        yield produced < this.outSize / 2
          ? Buffer.from(out.subarray(0, produced))
          : out.subarray(0, produced);
      }
      // Done when the input is used up and the output buffer was not filled (nothing left to flush).
      if (src.length === 0 && produced < this.outSize) return;
    }
  }

  end(): void {
    if (this.inFrame)
      throw corruptError('its zstd stream ends inside a frame (truncated before sealing)', this.ctx);
    if (this.frames === 0) throw corruptError('it holds no zstd frame', this.ctx);
  }
}

let sharedDCtx: binding.DCtx | null = null;

/** The first frame's declared content size (null if absent) and compressed length; nulls if unreadable. */
export function frameInfo(data: Uint8Array): { size: number | null; frameLen: number | null } {
  try {
    return { size: binding.getFrameContentSize(data), frameLen: binding.findFrameCompressedSize(data) };
  } catch {
    return { size: null, frameLen: null };
  }
}

/** Decompresses a whole zstd stream (one or more frames) into one buffer. */
export function decompressAll(data: Uint8Array, ctx: ObjectContext = {}, maxBytes = Infinity): Buffer {
  // Fast path: one frame that declares its size (our sealBuffer output) decompresses straight
  // into an exact buffer.
  const { size, frameLen } = frameInfo(data);
  // The declared size comes from the (authenticated, but possibly hostile) object itself: trust it
  // for one allocation only up to a bound; larger outputs grow as they are actually produced.
  if (size !== null && frameLen === data.length && size <= maxBytes && size <= MAX_PREALLOCATED_BYTES) {
    const out = Buffer.allocUnsafe(size);
    let n: number;
    try {
      sharedDCtx ??= new binding.DCtx();
      n = sharedDCtx.decompress(out, data);
    } catch (err) {
      throw corruptError(`its zstd data is invalid (${(err as Error).message})`, ctx, err);
    }
    if (n !== size) throw corruptError('its zstd frame is shorter than it declares', ctx);
    return out;
  }
  const parts: Buffer[] = [];
  const d = new ZstdDecompressor(ctx, maxBytes);
  for (const b of d.feed(data)) parts.push(b);
  d.end();
  return Buffer.concat(parts);
}

/**
 * Decompresses a whole zstd stream (one or more frames) into `out` and returns the number of
 * bytes written. More output than `out` holds is refused as corrupt (the caller knows how much
 * plaintext an object must hold, so anything beyond is damage or a zstd bomb).
 */
export function decompressInto(data: Uint8Array, out: Uint8Array, ctx: ObjectContext = {}): number {
  const { size, frameLen } = frameInfo(data);
  if (size !== null && frameLen === data.length && size <= out.length) {
    // One frame that declares its size (what sealBuffer writes): decoded straight into place.
    let n: number;
    try {
      sharedDCtx ??= new binding.DCtx();
      n = sharedDCtx.decompress(out.subarray(0, size), data);
    } catch (err) {
      throw corruptError(`its zstd data is invalid (${(err as Error).message})`, ctx, err);
    }
    if (n !== size) throw corruptError('its zstd frame is shorter than it declares', ctx);
    return n;
  }
  let pos = 0;
  const d = new ZstdDecompressor(ctx, out.length);
  for (const b of d.feed(data)) {
    out.set(b, pos);
    pos += b.length;
  }
  d.end();
  return pos;
}
