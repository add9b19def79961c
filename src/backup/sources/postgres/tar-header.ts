/**
 * One ustar header, as PostgreSQL's own tar writer (src/port/tar.c) makes them: used to add
 * `backup_manifest` to the end of a base backup's tar stream, as `pg_basebackup -Ft -D -` does.
 */
import { BLOCK } from './tar-plan.js';

/** Writes `value` as `width - 1` octal digits and a NUL. */
function octal(h: Buffer, offset: number, width: number, value: number): void {
  h.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

/** The 512-byte header of a regular file `name` (at most 99 bytes) of `size` bytes. */
export function tarFileHeader(name: string, size: number, mtimeSeconds: number): Buffer {
  if (Buffer.byteLength(name) > 99) throw new Error(`internal: tar member name too long: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, 0o600); // mode
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtimeSeconds);
  h.write('0', 156, 1, 'ascii'); // a regular file
  h.write('ustar\0' + '00', 257, 8, 'ascii');
  h.write('postgres', 265, 32, 'ascii');
  h.write('postgres', 297, 32, 'ascii');
  // The checksum: the sum of the header's bytes with its own field read as eight spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** Zero bytes that pad `size` bytes of a member's content to whole 512-byte blocks. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end of a tar archive: two zero blocks. */
export const TAR_TRAILER_BYTES = 2 * BLOCK;
