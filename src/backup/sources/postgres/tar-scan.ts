/**
 * Watches a tar stream go by and keeps the contents of a few small members (backup_label,
 * backup_manifest) — without copying or parsing the rest. A tar stream is 512-byte headers each
 * followed by the member's bytes padded to 512; only the name (bytes 0-99) and the octal size
 * (bytes 124-135) of each header are read. (A full tar parser such as tar-stream would re-chunk
 * every byte of a 1 GiB backup through JavaScript streams; this costs one comparison per member.)
 */
export class TarScanner {
  private readonly wanted: Set<string>;
  private readonly limit: number;
  /** Bytes until the next header. */
  private skip = 0;
  private header = Buffer.alloc(512);
  private headerFill = 0;
  private current: { name: string; left: number; parts: Buffer[] } | undefined;
  private padding = 0;
  private ended = false;
  readonly found = new Map<string, Buffer>();

  constructor(names: string[], limit = 4 * 1024 * 1024) {
    this.wanted = new Set(names);
    this.limit = limit;
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.current) {
        const n = Math.min(this.current.left, chunk.length - off);
        this.current.parts.push(Buffer.from(chunk.subarray(off, off + n)));
        this.current.left -= n;
        off += n;
        if (this.current.left === 0) {
          this.found.set(this.current.name, Buffer.concat(this.current.parts));
          this.current = undefined;
          this.skip = this.padding;
        }
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const n = Math.min(512 - this.headerFill, chunk.length - off);
      chunk.copy(this.header, this.headerFill, off, off + n);
      this.headerFill += n;
      off += n;
      if (this.headerFill < 512) continue;
      this.headerFill = 0;
      if (this.header.every((b) => b === 0)) {
        this.ended = true;
        break;
      }
      const name = this.header.toString('utf8', 0, 100).replace(/\0.*$/s, '').replace(/^\.\//, '');
      const size = parseInt(this.header.toString('ascii', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
      const padded = Math.ceil(size / 512) * 512;
      if (this.wanted.has(name) && size <= this.limit && size > 0) {
        this.current = { name, left: size, parts: [] };
        this.padding = padded - size;
      } else {
        this.skip = padded;
      }
    }
  }
}
