/** The streaming seal/open paths: equivalence with the buffer functions, and bounded memory. */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  createOpenStream,
  createSealStream,
  generateIdentity,
  openBuffer,
  parseIdentity,
  parseRecipients,
  sealBuffer,
} from '../../src/backup/crypto/index.js';
import { SafetynetError } from '../../src/errors.js';
import { sha256, testData } from './helpers.js';

const key = generateIdentity();
const ids = [parseIdentity(key.identity)];
const recipients = parseRecipients([key.recipient]);

describe('streams', () => {
  it('seal stream -> open stream round-trips 20 MB in uneven pieces', async () => {
    const plain = testData(20 << 20, 5);
    function* pieces() {
      for (let i = 0, n = 1; i < plain.length; i += n, n = (n * 7 + 13) % 300_000)
        yield plain.subarray(i, i + n);
    }
    const out = await buffer(
      Readable.from(pieces()).pipe(createSealStream(recipients)).pipe(createOpenStream(ids)),
    );
    expect(sha256(out)).toBe(sha256(plain));
  });

  it('an empty input seals to an object that opens to nothing', async () => {
    const sealed = await buffer(Readable.from([]).pipe(createSealStream(recipients)));
    expect(openBuffer(sealed, ids).length).toBe(0);
    expect((await buffer(Readable.from([sealed]).pipe(createOpenStream(ids)))).length).toBe(0);
  });

  it('does not expand a highly compressed object into memory faster than the reader reads', async () => {
    // 256 MiB of zeros seals to a few KiB; a slow reader must keep the readable buffer small.
    const size = 256 << 20;
    const sealed = sealBuffer(Buffer.alloc(size), recipients);
    expect(sealed.length).toBeLessThan(64 * 1024);
    const open = createOpenStream(ids);
    let maxBuffered = 0;
    let total = 0;
    let n = 0;
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        maxBuffered = Math.max(maxBuffered, open.readableLength);
        // Yield to the event loop now and then, as a slow disk would.
        if (++n % 64 === 0) setImmediate(cb);
        else cb();
      },
    });
    await pipeline(Readable.from([sealed]), open, slow);
    expect(total).toBe(size);
    // Bounded by the stream's high-water mark plus one zstd output block, not by the object size.
    expect(maxBuffered).toBeLessThan(1 << 20);
  });

  it('a stream error is the same typed error as openBuffer', async () => {
    const sealed = sealBuffer(testData(100_000, 1), recipients);
    sealed[sealed.length - 1]! ^= 1;
    const err = await buffer(Readable.from([sealed]).pipe(createOpenStream(ids))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetynetError);
    expect((err as SafetynetError).code).toBe('E_OBJECT_CORRUPT');
  });

  it('refuses to build a seal stream or seal a buffer with no recipient', () => {
    expect(() => createSealStream([])).toThrow(expect.objectContaining({ code: 'E_NO_RECIPIENTS' }));
    expect(() => sealBuffer(Buffer.from('x'), [])).toThrow(
      expect.objectContaining({ code: 'E_NO_RECIPIENTS' }),
    );
  });
});
