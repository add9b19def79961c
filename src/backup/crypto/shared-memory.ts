/**
 * Page-aligned shared memory for buffers that are reused for a whole restore: worker threads
 * open objects straight into them and the main thread writes them to disk with O_DIRECT.
 *
 * Why WebAssembly.Memory: it is the one allocation JavaScript can make whose start is aligned to
 * the OS page (V8 maps it with whole pages; a Buffer or SharedArrayBuffer comes from malloc and is
 * usually 16 bytes off), and O_DIRECT needs the memory aligned to the device's DMA alignment
 * (512 bytes here). A shared Memory's buffer is a SharedArrayBuffer, so worker threads see the
 * same bytes without copying or transferring. Callers that write with O_DIRECT still fall back to
 * ordinary writes if the kernel refuses (EINVAL), so the alignment is an optimisation, never a
 * requirement for correctness.
 */
const WASM_PAGE_BYTES = 64 * 1024;
/** WebAssembly memories are limited to 65,536 pages of 64 KiB (4 GiB). */
const MAX_WASM_PAGES = 65_536;

// The project's TypeScript lib has no WebAssembly declarations; this is the one constructor used.
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
    };
  }
).WebAssembly.Memory;

/** A SharedArrayBuffer of at least `bytes` bytes whose first byte is page-aligned. */
export function allocSharedAligned(bytes: number): SharedArrayBuffer {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES));
  if (pages > MAX_WASM_PAGES) throw new RangeError(`cannot allocate ${bytes} bytes of shared memory at once`);
  const memory = new WasmMemory({ initial: pages, maximum: pages, shared: true });
  return memory.buffer;
}

/** Buffers of one size in one page-aligned SharedArrayBuffer, taken and given back. */
export class SlotPool {
  private readonly free: Uint8Array[] = [];

  constructor(count: number, slotBytes: number) {
    // Every slot starts on a 4 KiB boundary, so each is as aligned as the whole allocation.
    const stride = Math.ceil(slotBytes / 4096) * 4096;
    const memory = allocSharedAligned(Math.max(1, stride * count));
    for (let i = 0; i < count; i++) this.free.push(new Uint8Array(memory, i * stride, slotBytes));
  }

  /** A free slot. Callers size the pool so that one is always free (see forEachPartInSlots). */
  take(): Uint8Array {
    const slot = this.free.pop();
    if (!slot) throw new Error('internal: the restore used more buffers than it allocated');
    return slot;
  }

  /** A free slot, or undefined when all are in use. */
  tryTake(): Uint8Array | undefined {
    return this.free.pop();
  }

  give(slot: Uint8Array): void {
    this.free.push(slot);
  }
}
