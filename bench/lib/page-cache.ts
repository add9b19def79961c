/**
 * The page cache between a benchmark's timed steps. On these VMs the first write to memory the
 * guest has never used costs a fault on the host, and the page cache grows into such memory as a
 * restore writes (24 GB of RAM, nothing evicts): the same files restore of the same repository, a
 * minute apart, spent 2.7-4.2 s of system time writing into fresh memory and 0.8-1.2 s into memory
 * the page cache had used before (bench/files/README.md, "never-touched memory"). Which tool got
 * which decided restore ratios. `cold` (the default where this process may) flushes dirty pages
 * and empties the cache before each step: both tools then write into used memory and read their
 * inputs from disk, as a restore after a disaster and a nightly backup do. `warm` only flushes.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';

const DROP_CACHES = '/proc/sys/vm/drop_caches';

export type CacheMode = 'cold' | 'warm';

/** `cold` unless `warm` was asked for or the cache cannot be emptied here (not root). */
export function cacheMode(asked: string | undefined): CacheMode {
  if (asked !== undefined && asked !== 'cold' && asked !== 'warm') {
    console.error(
      `--cache ${asked}: expected cold (empty the page cache before each step) or warm (keep it)`,
    );
    process.exit(2);
  }
  if (asked === 'warm') return 'warm';
  try {
    accessSync(DROP_CACHES, constants.W_OK);
    return 'cold';
  } catch {
    return 'warm';
  }
}

/** Before a timed step: `sync`, and in `cold` mode empty the page cache. */
export function settle(mode: CacheMode): void {
  execFileSync('sync');
  if (mode === 'cold') writeFileSync(DROP_CACHES, '1\n');
}

/** How a report names the mode. */
export function describeCache(mode: CacheMode): string {
  return mode === 'cold' ? 'page cache emptied before each step' : 'page cache kept (warm)';
}
