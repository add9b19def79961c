/**
 * Packs many blobs into few objects. 13,000 small files as 13,000 objects would cost 13,000
 * fsyncs locally and 13,000 PUTs (and their request fees) on S3; 16 MiB packs cost about 60.
 *
 * A pack's plaintext is the blobs' bytes concatenated (then, in a nearly full pack, zero bytes up
 * to 16 MiB, which no blob refers to); it is stored as one sealed
 * object (age of a zstd stream) under `chunks/<aa>/<packId>.age`, packId being 32 random hex
 * digits (random, not a content hash: a content-derived name would let a bucket reader test for
 * known content). The manifest says which byte range of which pack each file's blobs are.
 *
 * Files are read straight into the open pack's buffer (reserve, then keep or not), so small files
 * cost no allocation and no copy of their own, and a nearly full pack goes to the seal worker
 * without a copy either. (A resizable ArrayBuffer shrunk to size would avoid the padding, but it
 * faults in every 4 KiB page separately: reads were 4x slower, measured.) Use from one lane at a
 * time: a reserved region stays valid until the next reserve/append.
 */
import { randomBytes } from 'node:crypto';
import { chunkKey } from '../../repo/layout.js';
import type { PointWriter } from '../../repo/repository.js';
import type { ObjectRef } from '../../repo/types.js';
import type { BlobLocation } from './cache.js';
import { SlotPool } from '../../crypto/index.js';

/** A pack is sealed when the next blob does not fit in this many plaintext bytes. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/** A pack this close to full is padded with zero bytes to PACK_TARGET_BYTES (see flush). */
export const PAD_MAX_BYTES = 1024 * 1024;

interface OpenPack {
  key: string;
  buf: Buffer;
  used: number;
  /** The reused slot `buf` lives in (given back once the pack is stored), if any. */
  slot?: Uint8Array;
}

/**
 * Pack buffers one packer reuses: the one being filled plus those being sealed and stored (a
 * PointWriter keeps 4 in flight by default). Shared memory, so the seal workers read a pack in
 * place; a page of a slot is only backed by memory once touched, so a packer of small segment
 * packs costs little. When every slot is busy a fresh buffer is used.
 */
const PACK_SLOTS = 6;

/**
 * The point's object list: every pack it references, each once, in the order first used. Shared
 * by the point's packers (file content, folder segments) and its references to older packs.
 */
export class PointObjects {
  private readonly positions = new Map<string, number>();
  constructor(readonly writer: PointWriter) {}

  /** The position of `key` in the list, assigned on first use. */
  position(key: string): number {
    let i = this.positions.get(key);
    if (i === undefined) {
      i = this.positions.size;
      this.positions.set(key, i);
    }
    return i;
  }

  /** Lists a pack stored by an earlier point (once). */
  reference(ref: ObjectRef): void {
    if (this.positions.has(ref.key)) return;
    this.writer.reference(this.position(ref.key), ref);
  }

  get size(): number {
    return this.positions.size;
  }
}

export class Packer {
  private current: OpenPack | null = null;
  private slots: SlotPool | undefined;
  /** Packs this packer stored. */
  newPacks = 0;
  newPackPlainBytes = 0;

  constructor(
    private readonly objects: PointObjects,
    private readonly capacity = PACK_TARGET_BYTES,
  ) {}

  /** A region of `size` bytes at the end of the open pack; seals the pack first when it does not fit. */
  async reserve(size: number): Promise<Buffer> {
    if (size > this.capacity)
      throw new RangeError(`internal: a blob of ${size} bytes exceeds the pack size ${this.capacity}`);
    if (this.current && this.current.used + size > this.capacity) await this.flush();
    if (!this.current) {
      const key = chunkKey(randomBytes(16).toString('hex'));
      // Its place in the object list is taken at the first blob kept, so an empty pack leaves no hole.
      this.slots ??= new SlotPool(PACK_SLOTS, this.capacity);
      const slot = this.slots.tryTake();
      const buf = slot
        ? Buffer.from(slot.buffer, slot.byteOffset, slot.byteLength)
        : Buffer.allocUnsafeSlow(this.capacity);
      this.current = { key, buf, used: 0, ...(slot ? { slot } : {}) };
    }
    const p = this.current;
    return p.buf.subarray(p.used, p.used + size);
  }

  /** Makes the region last reserved (of `size` bytes) a blob of the open pack. */
  keep(size: number): BlobLocation {
    const p = this.current!;
    if (p.used === 0) this.objects.position(p.key);
    const loc = { pack: p.key, offset: p.used, length: size };
    p.used += size;
    return loc;
  }

  /** Copies `data` into the open pack as a blob. */
  async append(data: Buffer): Promise<BlobLocation> {
    const region = await this.reserve(data.length);
    data.copy(region);
    return this.keep(data.length);
  }

  /** Seals and stores the open pack, if it holds anything; waits while the writer has too much in flight. */
  async flush(): Promise<void> {
    const pack = this.current;
    this.current = null;
    if (!pack) return;
    const release = () => {
      if (pack.slot) this.slots!.give(pack.slot);
    };
    if (pack.used === 0) return release();
    // A nearly full pack is padded with zeros to its whole buffer (zeros cost nothing after zstd):
    // a fresh buffer is then handed to the seal worker without a copy, while a short last one is
    // copied so it is not inflated to 16 MiB when decompressed. A pack in a shared slot is read in
    // place either way.
    let plain: Buffer;
    if (this.capacity - pack.used <= PAD_MAX_BYTES) {
      pack.buf.fill(0, pack.used);
      plain = pack.buf;
    } else {
      plain = pack.buf.subarray(0, pack.used);
    }
    this.newPacks++;
    this.newPackPlainBytes += pack.used;
    // A failure is kept by the writer and rethrown by drain()/commit(). The slot is reused once
    // the pack is stored (or failed).
    let stored: Promise<unknown>;
    try {
      ({ stored } = await this.objects.writer.add(this.objects.position(pack.key), pack.key, plain, {
        ifAbsent: true,
        skipPlainHash: true,
      }));
    } catch (err) {
      release();
      throw err;
    }
    stored.then(release, release);
  }
}
