/**
 * Where a restored server's start went, from its own log: until redo starts (startup, reading the
 * backup label), the WAL replay, ending recovery (a new timeline, its history file), the
 * end-of-recovery checkpoint, and opening for connections. Read from the default log line prefix
 * (`%m [%p] `: a millisecond timestamp first); with another prefix nothing is reported.
 */

const MARKS: [name: string, pattern: RegExp][] = [
  ['start', /LOG: {2}starting PostgreSQL/],
  ['redo', /LOG: {2}redo starts at/],
  ['redoDone', /LOG: {2}redo done at|LOG: {2}redo is not required/],
  ['checkpoint', /LOG: {2}checkpoint starting: end-of-recovery/],
  ['checkpointDone', /LOG: {2}checkpoint complete/],
  ['ready', /LOG: {2}database system is ready to accept connections/],
];

/** Phases (ms) named `pg…Ms` found in `log`; marks missing from the log leave their phases out. */
export function recoveryLogPhases(log: string): Record<string, number> {
  const at: Record<string, number> = {};
  for (const line of log.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) (UTC|GMT|[+-]\d\d(?::?\d\d)?)\b/.exec(line);
    if (!m) continue;
    const zone = m[3] === 'UTC' || m[3] === 'GMT' ? 'Z' : m[3]!;
    const t = Date.parse(`${m[1]}T${m[2]}${zone}`);
    if (Number.isNaN(t)) continue;
    for (const [name, pattern] of MARKS) {
      // The first mark of a kind, except the checkpoint's end, which must follow its start.
      if (at[name] !== undefined || !pattern.test(line)) continue;
      if (name === 'checkpointDone' && at.checkpoint === undefined) continue;
      at[name] = t;
    }
  }
  const out: Record<string, number> = {};
  const span = (name: string, from: string, to: string) => {
    if (at[from] !== undefined && at[to] !== undefined && at[to]! >= at[from]!)
      out[name] = at[to]! - at[from]!;
  };
  span('pgStartupMs', 'start', 'redo');
  span('pgRedoMs', 'redo', 'redoDone');
  span('pgEndRecoveryMs', 'redoDone', at.checkpoint !== undefined ? 'checkpoint' : 'ready');
  span('pgCheckpointMs', 'checkpoint', 'checkpointDone');
  span('pgOpenMs', 'checkpointDone', 'ready');
  return out;
}
