/**
 * Who this process is, beyond host + pid: containers restart with the same host name and pid 1,
 * and pids are reused, so a lock or spool file naming "host, pid" alone cannot tell a live holder
 * from a dead one. A random token fixed for the life of the process, and (on Linux) the kernel's
 * boot id and the process's start time, make the identity unique.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

// The same global slot as the spool's token (src/log/spool.ts), so one process has one token.
const TOKEN_KEY = Symbol.for('safetynet.processToken');
/** The spool reserves this token for orphaned files. */
const RESERVED = 'ffffffff';

/** A random 8-hex-digit token fixed for the life of this process. */
export function processToken(): string {
  const g = globalThis as unknown as Record<symbol, string | undefined>;
  let t = g[TOKEN_KEY];
  while (t === undefined || t === RESERVED) t = randomBytes(4).toString('hex');
  return (g[TOKEN_KEY] = t);
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or
 * undefined where /proc is not available or the process does not exist. Two processes that had
 * the same pid have different start times.
 */
export function processStartTicks(pid: number = process.pid): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19]; // field 22 overall = index 19 after "pid (comm)"
}

/** The kernel's boot id (changes at every boot), or undefined off Linux. */
export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** True when a process with this id exists (EPERM: it exists but belongs to another user). */
export function processExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
