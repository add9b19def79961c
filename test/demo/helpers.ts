/** Checks shared by the demo tests: file snapshots and structural PDF / PNG validation. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import { crc32 } from '../../src/demo/png.js';

/** Every file below `dir`: relative path -> sha256, size and mode. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        const sha = createHash('sha256').update(readFileSync(p)).digest('hex');
        out[path.relative(dir, p)] = `${sha} ${st.size} ${(st.mode & 0o777).toString(8)} ${st.mtimeMs}`;
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * Why `pdf` is not a well-formed PDF, or null: header, trailer, startxref pointing at the xref
 * table, and every xref offset pointing at its "N 0 obj".
 */
export function pdfProblem(pdf: Buffer): string | null {
  const text = pdf.toString('latin1');
  if (!text.startsWith('%PDF-1.')) return 'no %PDF-1.x header';
  if (!text.endsWith('%%EOF\n')) return 'does not end with %%EOF';
  const m = /startxref\n(\d+)\n%%EOF\n$/.exec(text);
  if (!m) return 'no startxref';
  const xrefAt = Number(m[1]);
  if (text.slice(xrefAt, xrefAt + 5) !== 'xref\n') return `startxref ${xrefAt} does not point at the xref table`;
  const head = /^xref\n0 (\d+)\n/.exec(text.slice(xrefAt));
  if (!head) return 'bad xref header';
  const count = Number(head[1]);
  let pos = xrefAt + head[0].length;
  for (let i = 0; i < count; i++) {
    const entry = text.slice(pos, pos + 20);
    if (!/^\d{10} \d{5} [nf] \n$/.test(entry)) return `xref entry ${i} is not 20 bytes`;
    if (i > 0) {
      const off = Number(entry.slice(0, 10));
      if (!text.startsWith(`${i} 0 obj\n`, off)) return `xref entry ${i} does not point at object ${i}`;
    }
    pos += 20;
  }
  const len = /\/Length (\d+) >>\nstream\n/.exec(text);
  if (!len) return 'no content stream';
  const streamStart = len.index + len[0].length;
  if (text.slice(streamStart + Number(len[1]), streamStart + Number(len[1]) + 9) !== 'endstream') {
    return 'content stream /Length is wrong';
  }
  return null;
}

/** Why `png` is not a valid PNG, or null: signature, chunk CRCs, IHDR, IDAT inflating to the right size. */
export function pngProblem(png: Buffer): string | null {
  if (!png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'no signature';
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  let ended = false;
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('ascii', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    const crc = png.readUInt32BE(pos + 8 + len);
    if (crc32(png.subarray(pos + 4, pos + 8 + len)) !== crc) return `bad CRC in ${type}`;
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') ended = true;
    pos += 12 + len;
  }
  if (!ended) return 'no IEND';
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length !== (width * 3 + 1) * height) return 'pixel data has the wrong size';
  return null;
}
