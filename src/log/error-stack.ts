/**
 * The text stored in `error_stack`: the error's stack followed by every cause's stack
 * ("caused by: …") and the members of an AggregateError ("[errors[0]] …"), the way pino's
 * err serializer joins them. Cycles in cause chains are cut.
 */

const MAX_CHAIN = 20;

/** Stack (or message) of `err` with its cause chain and aggregate members appended. */
export function stackWithCauses(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const seen = new Set<unknown>();
  const parts: string[] = [];
  walk(err, '', parts, seen, 0);
  return parts.join('\n');
}

function walk(err: unknown, prefix: string, parts: string[], seen: Set<unknown>, depth: number): void {
  if (depth > MAX_CHAIN) {
    parts.push(`${prefix}… (cause chain cut at ${MAX_CHAIN})`);
    return;
  }
  if (seen.has(err)) {
    parts.push(`${prefix}[circular cause]`);
    return;
  }
  seen.add(err);
  if (!(err instanceof Error)) {
    parts.push(`${prefix}${describe(err)}`);
    return;
  }
  parts.push(
    prefix + (typeof err.stack === 'string' && err.stack ? err.stack : `${err.name}: ${err.message}`),
  );
  if (err instanceof AggregateError && Array.isArray(err.errors)) {
    err.errors.forEach((member: unknown, i: number) =>
      walk(member, `[errors[${i}]] `, parts, seen, depth + 1),
    );
  }
  if (err.cause !== undefined) walk(err.cause, 'caused by: ', parts, seen, depth + 1);
}

/** "outer: inner: innermost" — the message with the messages of its causes (pino's messageWithCauses). */
export function messageWithCauses(err: unknown): string {
  if (!(err instanceof Error)) return describe(err);
  const seen = new Set<unknown>();
  const msgs: string[] = [];
  let cur: unknown = err;
  while (cur !== undefined && !seen.has(cur) && msgs.length <= MAX_CHAIN) {
    seen.add(cur);
    msgs.push(cur instanceof Error ? cur.message : describe(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return msgs.filter((m) => m).join(': ');
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
