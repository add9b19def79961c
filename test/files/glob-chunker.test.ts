import { describe, expect, it } from 'vitest';
import { compileGlob, PathFilter } from '../../src/backup/sources/files/glob.js';
import { Chunker, CHUNK_MAX_BYTES, CHUNK_MIN_BYTES } from '../../src/backup/sources/files/chunker.js';
import { bytes } from './env.js';

describe('glob matcher', () => {
  const m = (pattern: string, rel: string) => compileGlob(pattern).matches(rel);

  it('anchors patterns at the set root and keeps * inside one segment', () => {
    expect(m('*.pdf', 'a.pdf')).toBe(true);
    expect(m('*.pdf', '2025/a.pdf')).toBe(false);
    expect(m('**/*.pdf', '2025/a.pdf')).toBe(true);
    expect(m('**/*.pdf', 'a.pdf')).toBe(true);
    expect(m('2025/*.pdf', '2025/x/a.pdf')).toBe(false);
    expect(m('./2025/*.pdf', '2025/a.pdf')).toBe(true);
    expect(m('/2025/*.pdf', '2025/a.pdf')).toBe(true);
  });

  it('matches dotfiles with * (a backup must not leave .env out)', () => {
    expect(m('*', '.env')).toBe(true);
    expect(m('config/*', 'config/.htaccess')).toBe(true);
  });

  it('lets a matched folder include everything inside it', () => {
    expect(m('config', 'config/app.json')).toBe(true);
    expect(m('config/**', 'config')).toBe(true);
    expect(m('config/**', 'config/a/b.json')).toBe(true);
    expect(m('config', 'configx/app.json')).toBe(false);
  });

  it('supports ?, classes, negated classes, braces and escapes', () => {
    expect(m('INV-00?.pdf', 'INV-001.pdf')).toBe(true);
    expect(m('INV-00?.pdf', 'INV-0011.pdf')).toBe(false);
    expect(m('p[0-4]*.jpg', 'p3.jpg')).toBe(true);
    expect(m('p[0-4]*.jpg', 'p7.jpg')).toBe(false);
    expect(m('p[!0-4]*.jpg', 'p7.jpg')).toBe(true);
    expect(m('*.{jpg,png}', 'a.png')).toBe(true);
    expect(m('*.{jpg,png}', 'a.gif')).toBe(false);
    expect(m('a\\*b', 'a*b')).toBe(true);
    expect(m('a\\*b', 'axb')).toBe(false);
    expect(m('a**/b', 'a/x/b')).toBe(false); // ** inside a segment is a plain *
    expect(m('a/**/b', 'a/b')).toBe(true);
    expect(m('a/**/b', 'a/x/y/b')).toBe(true);
  });

  it('says which folders may hold matches, so walks skip the rest', () => {
    const g = compileGlob('config/**');
    expect(g.couldMatchInside('')).toBe(true);
    expect(g.couldMatchInside('config')).toBe(true);
    expect(g.couldMatchInside('config/deep')).toBe(true);
    expect(g.couldMatchInside('data')).toBe(false);
    const f = compileGlob('safetynet.config.json');
    expect(f.couldMatchInside('data')).toBe(false);
    expect(compileGlob('**/*.pdf').couldMatchInside('any/where')).toBe(true);
    expect(compileGlob('202[56]/*.pdf').couldMatchInside('2024')).toBe(false);
  });

  it('combines include and exclude', () => {
    const f = new PathFilter(['config/**', 'safetynet.config.json'], ['config/secrets/**', '**/*.tmp']);
    expect(f.includes('safetynet.config.json')).toBe(true);
    expect(f.includes('config/app.json')).toBe(true);
    expect(f.includes('config/secrets/key')).toBe(false);
    expect(f.includes('config/x.tmp')).toBe(false);
    expect(f.includes('data/shop.sqlite')).toBe(false);
    expect(f.shouldDescend('data')).toBe(false);
    expect(f.shouldDescend('config')).toBe(true);
    expect(f.shouldDescend('config/secrets')).toBe(false);
    expect(() => compileGlob('  ')).toThrow(/empty/);
  });
});

describe('content-defined chunker', () => {
  const chunkAll = (data: Buffer, piece: number) => {
    const c = new Chunker();
    const out: Buffer[] = [];
    for (let i = 0; i < data.length; i += piece) out.push(...c.push(data.subarray(i, i + piece)));
    const last = c.end();
    if (last) out.push(last);
    return out;
  };

  it('cuts the same chunks however the input is split, within the size bounds', () => {
    const data = bytes(11, 12 * 1024 * 1024);
    const a = chunkAll(data, 1024 * 1024);
    const b = chunkAll(data, 77_777);
    expect(a.map((c) => c.length)).toEqual(b.map((c) => c.length));
    expect(Buffer.concat(a).equals(data)).toBe(true);
    expect(a.length).toBeGreaterThan(3);
    for (const c of a.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(CHUNK_MIN_BYTES);
      expect(c.length).toBeLessThanOrEqual(CHUNK_MAX_BYTES);
    }
  });

  it('keeps the chunks after an insertion (content-defined, unlike fixed-size)', () => {
    const data = bytes(12, 10 * 1024 * 1024);
    const edited = Buffer.concat([
      data.subarray(0, 100_000),
      Buffer.from('inserted bytes'),
      data.subarray(100_000),
    ]);
    const before = new Set(chunkAll(data, 1 << 20).map((c) => c.toString('base64').slice(0, 64) + c.length));
    const after = chunkAll(edited, 1 << 20).map((c) => c.toString('base64').slice(0, 64) + c.length);
    const shared = after.filter((c) => before.has(c)).length;
    expect(shared).toBeGreaterThanOrEqual(after.length - 2);
  });

  it('cuts at the maximum size on content without cut points (zeros)', () => {
    const chunks = chunkAll(Buffer.alloc(20 * 1024 * 1024), 1 << 20);
    expect(chunks[0]!.length).toBe(CHUNK_MAX_BYTES);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(20 * 1024 * 1024);
  });
});
