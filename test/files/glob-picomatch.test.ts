/**
 * Our glob matcher (src/backup/sources/files/glob.ts) against picomatch, on generated patterns and
 * paths: on the syntax both document — literals, `*`, `?`, `[ab]`, `[a-c]`, `[^a]`, `{a,b}`, `**`,
 * dotfiles — they must agree exactly (with our one deliberate extra: a matched folder includes
 * everything below it, so the reference is "picomatch matches the path or one of its ancestors").
 *
 * Why we keep ours rather than call picomatch (4.0.7): picomatch leaves `[!0-4]` as a regex class
 * of "!" and 0-4 (so `p[!0-4].jpg` does not match `p7.jpg`, the opposite of what a shell and our
 * docs say), reads a leading `!` as negation and `(a|b)` as regex groups — each would silently
 * change what an existing `exclude` pattern leaves out of a backup. Those differences are pinned
 * below so a picomatch release that changes them is noticed.
 *
 * The walk's folder pruning (`couldMatchInside`) is checked for soundness on the same data: a
 * folder that holds a match must never be skipped.
 */
import { describe, expect, it } from 'vitest';
import picomatch from 'picomatch';
import { compileGlob } from '../../src/backup/sources/files/glob.js';
import { createRng, type Rng } from '../../src/util/rng.js';

const PM = { dot: true, windows: false } as const;

function ancestorsOrSelf(rel: string): string[] {
  const out = [rel];
  for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) out.push(rel.slice(0, i));
  return out;
}

function pathSegment(rng: Rng): string {
  for (;;) {
    let s = '';
    const n = rng.int(1, 3);
    for (let i = 0; i < n; i++) s += rng.pick(['a', 'b', 'c', '.', '-']);
    if (s !== '.' && s !== '..') return s;
  }
}

function patternSegment(rng: Rng): string {
  if (rng.chance(0.15)) return '**';
  let s = '';
  const n = rng.int(1, 3);
  for (let i = 0; i < n; i++) {
    s += rng.pick(['a', 'b', 'c', '.', '-', '*', '?', '[ab]', '[a-c]', '[^a]', '{a,b}', '{a,.c}', '{b,c*}']);
  }
  return s.replace(/\*{2,}/g, '*');
  // (A brace alternative is never a bare `*`: `{b,*}*` would spell a `**` segment, which the two
  // matchers read differently — ours expands braces first, picomatch does not.)
}

function generate(rng: Rng, part: (r: Rng) => string): string {
  const n = rng.int(1, 4);
  return Array.from({ length: n }, () => part(rng)).join('/');
}

describe('glob matcher vs picomatch', () => {
  it('agrees on generated patterns and paths, and never prunes a folder that holds a match', () => {
    const rng = createRng(20261204);
    const paths = Array.from({ length: 300 }, () => generate(rng, pathSegment));
    let compared = 0;
    let matched = 0;
    const disagreements: string[] = [];
    for (let i = 0; i < 400; i++) {
      const pattern = generate(rng, patternSegment);
      const ours = compileGlob(pattern);
      // Our docs: `x/**` matches `x` itself. picomatch does so only when the segment before `/**`
      // is a literal (`x/**` yes, `x*/**` no), so the reference asks for the stem too.
      const whole = picomatch(pattern, PM);
      const stems: ((s: string) => boolean)[] = [];
      for (let p = pattern; p.endsWith('/**');) stems.push(picomatch((p = p.slice(0, -3)), PM));
      const theirs = (s: string) => whole(s) || stems.some((m) => m(s));
      for (const p of paths) {
        compared++;
        const expected = ancestorsOrSelf(p).some((a) => theirs(a));
        const got = ours.matches(p);
        if (got !== expected) disagreements.push(`${pattern} ~ ${p}: ours ${got}, picomatch ${expected}`);
        if (!got) continue;
        matched++;
        for (const dir of ancestorsOrSelf(p).slice(1).concat([''])) {
          if (!ours.couldMatchInside(dir))
            disagreements.push(`${pattern}: would skip folder "${dir}" holding ${p}`);
        }
      }
    }
    expect(disagreements.slice(0, 20)).toEqual([]);
    expect(compared).toBe(120_000);
    expect(matched).toBeGreaterThan(2_000); // the generator really produces matches
  });

  it('pins the documented differences (why we keep our own matcher)', () => {
    const pm = (p: string, s: string) => picomatch(p, PM)(s);
    const ours = (p: string, s: string) => compileGlob(p).matches(s);
    // `[!…]` negated classes, as in shells and docs/files-backup.md:
    expect(ours('p[!0-4].jpg', 'p7.jpg')).toBe(true);
    expect(pm('p[!0-4].jpg', 'p7.jpg')).toBe(false);
    // A leading "!" is a literal character for us, a negation for picomatch:
    expect(ours('!x', 'y')).toBe(false);
    expect(pm('!x', 'y')).toBe(true);
    // A trailing `/**` after a wildcard segment: picomatch leaves out the folder itself.
    expect(ours('a*/**', 'ab')).toBe(true);
    expect(pm('a*/**', 'ab')).toBe(false);
    // Parentheses are literal for us, regex groups for picomatch:
    expect(ours('a(b|c)', 'ab')).toBe(false);
    expect(pm('a(b|c)', 'ab')).toBe(true);
  });
});
