/**
 * A small glob matcher for file-set include/exclude patterns and `restore files --path`.
 *
 * Why our own: node:path's matchesGlob exists on Node 20.20 but is experimental there (it prints an
 * ExperimentalWarning on stderr at first use, which would pollute CLI output) and it skips dotfiles
 * for `*`, while a backup must not silently leave out `.htaccess` or `.env`. picomatch (4.0.7) was
 * weighed and left out: it reads `[!0-4]` as a class of "!" and 0-4, a leading `!` as negation and
 * `(a|b)` as a regex group, each of which would change what an existing exclude pattern leaves out.
 * test/files/glob-picomatch.test.ts compares the two on generated patterns and paths (they agree on
 * the shared syntax) and pins those differences.
 *
 * Semantics (documented in docs/files-backup.md):
 * - patterns are relative to the set's root, "/"-separated, anchored at the root (a leading "/" or
 *   "./" is ignored); `*.tmp` matches only at the top, `**` + `/*.tmp` at any depth;
 * - `*` any run of characters within one path segment (dotfiles included), `?` one character,
 *   `[abc]` / `[a-z]` / `[!a]` a character class, `{a,b}` alternatives, `\x` a literal x;
 * - a `**` segment matches zero or more whole segments (`a/**` matches `a` itself and all below);
 * - a pattern that matches a folder also matches everything inside it (`config` = `config/**`).
 */

/** One compiled pattern. */
export interface Glob {
  readonly source: string;
  /** True when `rel` (or one of its ancestor folders) matches. */
  matches(rel: string): boolean;
  /** True when something inside folder `dirRel` could match (used to skip whole folders). */
  couldMatchInside(dirRel: string): boolean;
}

interface Alternative {
  whole: RegExp;
  /** Per-segment matchers; null stands for `**`. */
  segments: (RegExp | null)[];
}

/** Expands `{a,b}` alternatives (nested ones too) into plain patterns. */
function expandBraces(pattern: string): string[] {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') {
      if (depth === 0) open = i;
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        const body = pattern.slice(open + 1, i);
        const options = splitTopLevel(body);
        if (options.length < 2) continue; // "{x}" is literal, like in shells
        const head = pattern.slice(0, open);
        const tail = pattern.slice(i + 1);
        return options.flatMap((o) => expandBraces(head + o + tail));
      }
    }
  }
  return [pattern];
}

function splitTopLevel(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  out.push(body.slice(start));
  return out;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

/** Regex source for one path segment (no "/" inside). */
function segmentSource(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '\\' && i + 1 < seg.length) {
      out += seg[++i]!.replace(REGEX_SPECIAL, '\\$&');
    } else if (c === '*') {
      while (seg[i + 1] === '*') i++;
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let cls = seg.slice(i + 1, close);
      const negate = cls.startsWith('!') || cls.startsWith('^');
      if (negate) cls = cls.slice(1);
      cls = cls.replace(/[\\\]^]/g, '\\$&');
      out += negate ? `[^/${cls}]` : `[${cls}]`;
      i = close;
    } else {
      out += c.replace(REGEX_SPECIAL, '\\$&');
    }
  }
  return out;
}

function normalisePattern(p: string): string {
  let s = p.trim();
  while (s.startsWith('./')) s = s.slice(2);
  s = s
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\/{2,}/g, '/');
  return s;
}

function compileAlternative(pattern: string): Alternative {
  const segs = pattern.split('/');
  let re = '';
  let needSep = false;
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    if (seg === '**') {
      if (last) re += needSep ? '(?:/.*)?' : '.*';
      else if (needSep) re += '(?:/[^/]+)*';
      else re += '(?:[^/]+/)*';
      return;
    }
    if (needSep) re += '/';
    re += segmentSource(seg);
    needSep = true;
  });
  return {
    whole: new RegExp(`^${re}$`, 's'),
    segments: segs.map((s) => (s === '**' ? null : new RegExp(`^${segmentSource(s)}$`, 's'))),
  };
}

/** Can a path starting with folder segments `dir` match pattern segments `pat`? */
function prefixCouldMatch(pat: (RegExp | null)[], i: number, dir: string[], j: number): boolean {
  // Folder fully consumed: children may match the rest. Pattern fully consumed: the folder (or an
  // ancestor) matched, and a matched folder includes everything inside it.
  if (j === dir.length || i === pat.length) return true;
  const seg = pat[i] as RegExp | null;
  if (seg === null) return prefixCouldMatch(pat, i + 1, dir, j) || prefixCouldMatch(pat, i, dir, j + 1);
  return seg.test(dir[j]!) && prefixCouldMatch(pat, i + 1, dir, j + 1);
}

/** Compiles a pattern; throws a RangeError for an empty one. */
export function compileGlob(pattern: string): Glob {
  const norm = normalisePattern(pattern);
  if (norm === '') throw new RangeError(`glob pattern "${pattern}" is empty`);
  const alts = expandBraces(norm).map(compileAlternative);
  return {
    source: pattern,
    matches(rel: string): boolean {
      // The path itself, then each ancestor folder (a matched folder includes its contents).
      let p = rel;
      for (;;) {
        for (const a of alts) if (a.whole.test(p)) return true;
        const slash = p.lastIndexOf('/');
        if (slash <= 0) return false;
        p = p.slice(0, slash);
      }
    },
    couldMatchInside(dirRel: string): boolean {
      const dir = dirRel === '' ? [] : dirRel.split('/');
      return alts.some((a) => prefixCouldMatch(a.segments, 0, dir, 0));
    },
  };
}

/** Include/exclude rules of one file set. */
export class PathFilter {
  private readonly include: Glob[];
  private readonly exclude: Glob[];

  constructor(include: readonly string[], exclude: readonly string[]) {
    this.include = include.map(compileGlob);
    this.exclude = exclude.map(compileGlob);
  }

  /** True when the entry at `rel` is part of the set. */
  includes(rel: string): boolean {
    if (this.exclude.some((g) => g.matches(rel))) return false;
    return this.include.length === 0 || this.include.some((g) => g.matches(rel));
  }

  /** True when folder `rel` must be walked (something inside it could be included). */
  shouldDescend(rel: string): boolean {
    if (this.exclude.some((g) => g.matches(rel))) return false;
    return this.include.length === 0 || this.include.some((g) => g.couldMatchInside(rel));
  }
}
