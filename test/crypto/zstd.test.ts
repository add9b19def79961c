import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import binding from 'zstd-napi/binding.js';
import {
  ZstdCompressor,
  ZstdDecompressor,
  compressToScratch,
  decompressAll,
  decompressInto,
} from '../../src/backup/crypto/zstd.js';
import { openReusing } from '../../src/backup/crypto/seal.js';
import {
  createSealStream,
  generateIdentity,
  parseIdentity,
  parseRecipients,
  sealBuffer,
} from '../../src/backup/crypto/index.js';
import { sh, testData } from './helpers.js';
import { tempDir } from '../helpers/tmp.js';

const OUT = binding.dStreamOutSize();

function streamDecompress(data: Buffer, piece: number): Buffer {
  const d = new ZstdDecompressor();
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += piece)
    for (const b of d.feed(data.subarray(i, i + piece))) parts.push(b);
  d.end();
  return Buffer.concat(parts);
}

describe('zstd', () => {
  it('round-trips at output-buffer boundaries, whole and in small pieces', () => {
    for (const size of [0, 1, OUT - 1, OUT, OUT + 1, 2 * OUT, 5 * OUT + 3]) {
      for (const plain of [testData(size, size), Buffer.alloc(size)]) {
        const z = Buffer.from(compressToScratch(plain, 1));
        expect(decompressAll(z).equals(plain), `all ${size}`).toBe(true);
        expect(streamDecompress(z, z.length || 1).equals(plain), `stream ${size}`).toBe(true);
        expect(streamDecompress(z, 3).equals(plain), `3-byte pieces ${size}`).toBe(true);
        expect(sh('zstd -d -c', z).equals(plain), `zstd CLI ${size}`).toBe(true);
      }
    }
  });

  it('the streaming compressor writes frames the zstd CLI reads, with a checksum', () => {
    const plain = testData(1_000_000, 3);
    const parts: Buffer[] = [];
    const c = new ZstdCompressor(3, (b) => parts.push(Buffer.from(b)));
    for (let i = 0; i < plain.length; i += 33_333) c.write(plain.subarray(i, i + 33_333));
    c.end();
    const z = Buffer.concat(parts);
    expect(sh('zstd -d -c', z).equals(plain)).toBe(true);
    const file = path.join(tempDir(), 'x.zst');
    writeFileSync(file, z);
    expect(sh(`zstd -lv '${file}' 2>&1`).toString()).toMatch(/Check: XXH64/);
  });

  it('the scratch buffer is reused: a view is only valid until the next call', () => {
    const a = compressToScratch(testData(10_000, 1));
    const aCopy = Buffer.from(a);
    compressToScratch(testData(10_000, 2));
    expect(a.equals(aCopy)).toBe(false);
  });

  it('decompressInto fills the given memory (one frame or several) and refuses more than it holds', () => {
    const plain = testData(300_000, 3);
    const one = Buffer.from(compressToScratch(plain));
    const out = Buffer.alloc(400_000, 0xaa);
    expect(decompressInto(one, out)).toBe(plain.length);
    expect(out.subarray(0, plain.length).equals(plain)).toBe(true);
    expect(out[plain.length]).toBe(0xaa);
    // Two frames back to back (as `zstd a b` writes): the streaming path, same result.
    const two = Buffer.concat([one, Buffer.from(compressToScratch(Buffer.from('tail')))]);
    expect(decompressInto(two, out)).toBe(plain.length + 4);
    expect(out.subarray(plain.length, plain.length + 4).toString()).toBe('tail');
    expect(() => decompressInto(one, Buffer.alloc(plain.length - 1))).toThrow(/decompresses to more than/);
    expect(() => decompressInto(two, Buffer.alloc(plain.length))).toThrow(/more than/);
  });

  it('openReusing gives each object in the same reused memory, and fresh memory for what it cannot size', () => {
    const key = generateIdentity();
    const ids = [parseIdentity(key.identity, 'identity')];
    const rec = parseRecipients([key.recipient]);
    const a = testData(200_000, 4);
    const b = testData(150_000, 5);
    const ra = openReusing(sealBuffer(a, rec), ids);
    expect(ra.equals(a)).toBe(true);
    const rb = openReusing(sealBuffer(b, rec), ids);
    expect(rb.equals(b)).toBe(true);
    expect(rb.buffer).toBe(ra.buffer); // the same memory: the first result is no longer valid
    // A streamed object declares no size: opened into its own memory.
    const stream = createSealStream(rec);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.end(a);
    return new Promise<void>((done) =>
      stream.on('end', () => {
        const rc = openReusing(Buffer.concat(chunks), ids);
        expect(rc.equals(a)).toBe(true);
        expect(rc.buffer).not.toBe(rb.buffer);
        done();
      }),
    );
  });
});
