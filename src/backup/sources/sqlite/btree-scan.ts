/**
 * The quick structural check of a restored SQLite file, done on the pages as they stream past on
 * their way to disk, so it costs no second read of the file (and overlaps the writing).
 *
 * `PageScan.scan` records, for every page that looks like a b-tree page (SQLite file format §1.6),
 * its type, its cell count and, for interior pages, its child page numbers. `walk` then follows
 * each b-tree from its root page (the roots come from sqlite_schema, which SQLite itself parses)
 * and checks what `SELECT count(*) … NOT INDEXED` would have met on the way: every page reached is
 * a b-tree page of the tree's kind with a sane header and cell pointer array, every child number
 * is a page of the file, no page belongs to two trees or is reached twice; and it counts each
 * tree's entries (rows of a table: the cells of its leaves; entries of an index or a WITHOUT ROWID
 * table: every cell). Only pages reached from a root are judged, so stale pages on the freelist,
 * which may hold anything, never raise a false alarm. What it does not read: the cells' payloads
 * and overflow chains, and the freelist (`--check full` runs PRAGMA integrity_check for those).
 *
 * Memory: one byte and one 16-bit count per page, plus the child lists of interior pages (about
 * one number per page in total): ~7 bytes per page, 2 MB for a 1 GiB database of 4 KiB pages.
 */

const INDEX_INTERIOR = 2;
const TABLE_INTERIOR = 5;
const INDEX_LEAF = 10;
const TABLE_LEAF = 13;
/** Stop listing problems after this many: a badly damaged file would otherwise list thousands. */
const MAX_PROBLEMS = 20;

/** One b-tree to walk: a table or an index, by its root page. */
export interface TreeRoot {
  /** Name for messages and counts (the table's or index's name). */
  name: string;
  root: number;
}

export interface WalkResult {
  /** Entries per tree name: a rowid table's rows, an index's (or WITHOUT ROWID table's) entries. */
  counts: Map<string, number>;
  /** Whether each tree is a rowid table (else an index b-tree). */
  rowidTable: Map<string, boolean>;
  /** Empty when every tree is sound. */
  problems: string[];
}

export class PageScan {
  private readonly types: Uint8Array;
  private readonly cells: Uint16Array;
  private readonly children = new Map<number, Uint32Array>();
  /** Pages whose header named a b-tree type but whose layout does not fit the page. */
  private readonly malformed = new Map<number, string>();
  private usable: number;

  constructor(
    readonly pageSize: number,
    readonly pageCount: number,
  ) {
    this.types = new Uint8Array(pageCount + 1);
    this.cells = new Uint16Array(pageCount + 1);
    this.usable = pageSize;
  }

  /**
   * Records the pages in `buf` (whole pages, the first being `firstPage`); pages past the
   * database's page count are ignored. A page scanned again (an incremental's newer version)
   * replaces what was recorded for it.
   */
  scan(buf: Uint8Array, firstPage: number): void {
    const ps = this.pageSize;
    const pages = Math.floor(buf.length / ps);
    for (let i = 0; i < pages; i++) {
      const pageNo = firstPage + i;
      if (pageNo > this.pageCount) return;
      const off = i * ps;
      if (pageNo === 1) {
        // Byte 20 of the file header: bytes reserved at the end of every page (e.g. by an
        // encryption extension); b-tree content must fit in the rest.
        this.usable = ps - buf[off + 20]!;
      }
      this.children.delete(pageNo);
      this.malformed.delete(pageNo);
      this.types[pageNo] = 0;
      this.cells[pageNo] = 0;
      this.scanPage(buf, off, pageNo);
    }
  }

  private scanPage(buf: Uint8Array, off: number, pageNo: number): void {
    const hdr = pageNo === 1 ? 100 : 0; // page 1 starts with the 100-byte file header
    const type = buf[off + hdr]!;
    if (type !== INDEX_INTERIOR && type !== TABLE_INTERIOR && type !== INDEX_LEAF && type !== TABLE_LEAF)
      return;
    const n = (buf[off + hdr + 3]! << 8) | buf[off + hdr + 4]!;
    const interior = type === INDEX_INTERIOR || type === TABLE_INTERIOR;
    const ptrStart = hdr + (interior ? 12 : 8);
    const ptrEnd = ptrStart + 2 * n;
    if (ptrEnd > this.usable) {
      this.malformed.set(pageNo, `its ${n} cell pointers do not fit in the page`);
      return;
    }
    this.types[pageNo] = type;
    this.cells[pageNo] = n;
    if (!interior) return;
    const kids = new Uint32Array(n + 1);
    for (let k = 0; k < n; k++) {
      const at = off + ptrStart + 2 * k;
      const cell = (buf[at]! << 8) | buf[at + 1]!;
      if (cell < ptrEnd || cell + 4 > this.usable) {
        this.malformed.set(pageNo, `cell ${k} points outside the page's content area (offset ${cell})`);
        this.types[pageNo] = 0;
        return;
      }
      kids[k] = readU32(buf, off + cell);
    }
    kids[n] = readU32(buf, off + hdr + 8); // the right-most child
    this.children.set(pageNo, kids);
  }

  /** Walks every tree from its root (see the module comment). Roots listed twice are walked once. */
  walk(trees: TreeRoot[]): WalkResult {
    const visited = new Uint8Array(this.pageCount + 1);
    const counts = new Map<string, number>();
    const rowidTable = new Map<string, boolean>();
    const problems: string[] = [];
    const problem = (p: string) => {
      if (problems.length < MAX_PROBLEMS) problems.push(p);
    };
    const byRoot = new Map<number, { count: number; rowid: boolean }>();
    for (const { name, root } of trees) {
      const known = byRoot.get(root);
      if (known) {
        counts.set(name, known.count);
        rowidTable.set(name, known.rowid);
        continue;
      }
      const rootType = root >= 1 && root <= this.pageCount ? this.types[root]! : 0;
      const rowid = rootType === TABLE_INTERIOR || rootType === TABLE_LEAF;
      let count = 0;
      const stack = [root];
      while (stack.length) {
        const page = stack.pop()!;
        if (page < 1 || page > this.pageCount) {
          problem(`${name}: refers to page ${page}, outside the file's ${this.pageCount} pages`);
          continue;
        }
        if (visited[page]) {
          problem(`${name}: page ${page} is reached twice (a loop, or shared with another b-tree)`);
          continue;
        }
        visited[page] = 1;
        const type = this.types[page]!;
        if (type === 0) {
          const why = this.malformed.get(page);
          problem(`${name}: page ${page} is not a b-tree page${why ? ` (${why})` : ''}`);
          continue;
        }
        const tableType = type === TABLE_INTERIOR || type === TABLE_LEAF;
        if (tableType !== rowid) {
          problem(
            `${name}: page ${page} is a ${tableType ? 'table' : 'index'} page in ${rowid ? 'a table' : 'an index'} b-tree`,
          );
          continue;
        }
        // A rowid table's rows are its leaves' cells; an index b-tree keeps entries in every cell.
        if (!rowid || type === TABLE_LEAF) count += this.cells[page]!;
        const kids = this.children.get(page);
        if (kids) for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k]!);
      }
      byRoot.set(root, { count, rowid });
      counts.set(name, count);
      rowidTable.set(name, rowid);
    }
    return { counts, rowidTable, problems };
  }
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) >>> 0) + (buf[at + 1]! << 16) + (buf[at + 2]! << 8) + buf[at + 3]!;
}
