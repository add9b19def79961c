/**
 * Turns whatever the shop passes as `details` into safe, redacted JSON text.
 *
 * JSON.stringify throws on circular references and BigInt, dumps Buffers as arrays of numbers and
 * drops Errors to `{}`; a logger must do none of that. One walk copies the value into plain JSON
 * data, redacting secret keys and card numbers on the way, then the text is size-checked: details
 * larger than `maxDetailsBytes` are replaced by a visible truncation marker, never dropped.
 */
import { REDACTED, type Redactor } from './redact.js';

const MAX_DEPTH = 32;
/** Nodes visited per value before the rest is cut (protects the event loop from huge objects). */
const MAX_NODES = 50_000;
/** Buffers keep at most this many bytes (as base64) in details. */
const MAX_BUFFER_BYTES = 4096;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

class Walker {
  nodes = 0;
  cut = false;
  private readonly ancestors = new Set<object>();

  constructor(
    private readonly redactor: Redactor,
    private readonly errorStacks: boolean,
  ) {}

  value(v: unknown, depth: number): Json | undefined {
    switch (typeof v) {
      case 'string':
        return this.redactor.text(v);
      case 'number':
        return Number.isFinite(v) ? v : String(v);
      case 'boolean':
        return v;
      case 'bigint':
        return v.toString();
      case 'undefined':
        return undefined;
      case 'symbol':
        return v.toString();
      case 'function':
        return `[Function${v.name ? ' ' + v.name : ''}]`;
    }
    if (v === null) return null;
    return this.object(v as object, depth);
  }

  private object(o: object, depth: number): Json {
    if (++this.nodes > MAX_NODES) {
      this.cut = true;
      return '[…]';
    }
    if (depth >= MAX_DEPTH) {
      this.cut = true;
      return '[Too deep]';
    }
    if (this.ancestors.has(o)) return '[Circular]';
    if (o instanceof Date) return Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString();
    if (o instanceof Uint8Array) return bufferJson(o);
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) {
      return `[${o.constructor.name} ${o.byteLength} bytes]`;
    }
    this.ancestors.add(o);
    try {
      if (o instanceof Error) return this.error(o, depth);
      if (Array.isArray(o)) {
        const out: Json[] = new Array<Json>(o.length);
        for (let i = 0; i < o.length; i++) {
          const item = this.value(o[i], depth + 1);
          out[i] = item === undefined ? null : item;
        }
        return out;
      }
      if (o instanceof Map) {
        const out = emptyObject();
        for (const [k, val] of o) this.put(out, String(k), val, depth);
        return out;
      }
      if (o instanceof Set) return this.value([...o], depth) ?? null;
      const toJSON = (o as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        try {
          return this.value(toJSON.call(o), depth + 1) ?? null;
        } catch (err) {
          return `[toJSON threw: ${errorText(err)}]`;
        }
      }
      const out = emptyObject();
      for (const key of Object.keys(o)) {
        let val: unknown;
        try {
          val = (o as Record<string, unknown>)[key];
        } catch (err) {
          val = `[getter threw: ${errorText(err)}]`;
        }
        this.put(out, key, val, depth);
      }
      return out;
    } finally {
      this.ancestors.delete(o);
    }
  }

  private put(out: { [key: string]: Json }, key: string, val: unknown, depth: number): void {
    if (val === undefined) return;
    if (this.redactor.isSecretKey(key)) {
      out[key] = REDACTED;
      return;
    }
    const s = this.value(val, depth + 1);
    if (s !== undefined) out[key] = s;
  }

  /** pino-std-serializers' layout: type, message, stack, own fields, cause, aggregateErrors. */
  error(e: Error, depth: number): { [key: string]: Json } {
    const out = emptyObject();
    out.type =
      e.constructor?.name && e.constructor.name !== 'Object' ? e.constructor.name : e.name || 'Error';
    out.message = this.redactor.text(String(e.message ?? ''));
    if (this.errorStacks && typeof e.stack === 'string') out.stack = this.redactor.text(e.stack);
    for (const key of Object.keys(e)) {
      if (key === 'message' || key === 'stack' || key === 'cause' || key === 'errors') continue;
      let val: unknown;
      try {
        val = (e as unknown as Record<string, unknown>)[key];
      } catch (err) {
        val = `[getter threw: ${errorText(err)}]`;
      }
      this.put(out, key, val, depth);
    }
    if ('cause' in e && e.cause !== undefined) {
      const c = this.value(e.cause, depth + 1);
      if (c !== undefined) out.cause = c;
    }
    if (e instanceof AggregateError && Array.isArray(e.errors)) {
      out.aggregateErrors = e.errors.map((x: unknown) => this.value(x, depth + 1) ?? null);
    }
    return out;
  }
}

function emptyObject(): { [key: string]: Json } {
  // A null prototype so a "__proto__" key from user data is an ordinary key, not a prototype swap.
  return Object.create(null) as { [key: string]: Json };
}

function bufferJson(b: Uint8Array): Json {
  const buf = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, MAX_BUFFER_BYTES));
  const out = emptyObject();
  out.type = 'Buffer';
  out.bytes = b.byteLength;
  out.base64 = buf.toString('base64');
  if (b.byteLength > MAX_BUFFER_BYTES) out.truncated = true;
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Redacted, JSON-safe copy of any value (exported for tests and the webhook capture). */
export function toSafeJson(
  value: unknown,
  redactor: Redactor,
  options: { errorStacks?: boolean } = {},
): unknown {
  return new Walker(redactor, options.errorStacks ?? true).value(value, 0) ?? null;
}

/** An Error (or anything thrown) as details data; stacks are left out when `withStacks` is false. */
export function serializeError(err: unknown, redactor: Redactor, withStacks: boolean): Json {
  const w = new Walker(redactor, withStacks);
  if (err instanceof Error) return w.error(err, 0);
  const v = w.value(err, 0);
  return { type: typeof err, value: v === undefined ? null : v };
}

/**
 * Serialises `details` (plus bound fields) to JSON object text, redacted, never larger than
 * `maxBytes`: an oversized object becomes `{"_truncated":true,"_originalBytes":N,"_keys":[…],"_preview":"…"}`.
 */
export function serializeDetails(
  details: unknown,
  redactor: Redactor,
  maxBytes: number,
  bound?: Record<string, unknown>,
): string {
  if (details === undefined && bound === undefined) return '{}';
  if (bound === undefined && isFlatAndClean(details, redactor))
    return fitDetails(JSON.stringify(details), maxBytes);
  const w = new Walker(redactor, true);
  let obj: Json | undefined;
  if (bound !== undefined) {
    // Child bindings first, the call's own fields win (the same rule pino applies).
    const merged: Record<string, unknown> = { ...bound };
    if (isPlainRecord(details)) Object.assign(merged, details);
    else if (details !== undefined) merged.value = details;
    obj = w.value(merged, 0);
  } else if (isPlainRecord(details)) {
    obj = w.value(details, 0);
  } else {
    obj = w.value({ value: details }, 0);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) obj = { value: obj ?? null };
  if (w.cut) obj._truncated = true;
  return fitDetails(JSON.stringify(obj), maxBytes);
}

/**
 * The common case on the hot path: a small plain object of numbers, booleans, null and strings
 * with no secret key and no card number. JSON.stringify gives exactly what the walk would, without
 * copying it first.
 */
function isFlatAndClean(v: unknown, redactor: Redactor): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(v);
  if (keys.length > 32) return false;
  for (const key of keys) {
    if (redactor.isSecretKey(key)) return false;
    let val: unknown;
    try {
      val = (v as Record<string, unknown>)[key];
    } catch {
      return false; // a throwing getter: the careful walk reports it
    }
    switch (typeof val) {
      case 'number':
        if (!Number.isFinite(val)) return false;
        break;
      case 'boolean':
        break;
      case 'string':
        if (redactor.text(val) !== val) return false;
        break;
      default:
        if (val !== null) return false;
    }
  }
  return true;
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Error);
}

/** Returns `json` when it fits in `maxBytes`, otherwise the truncation marker object. */
export function fitDetails(json: string, maxBytes: number): string {
  // UTF-8 needs at most 3 bytes per UTF-16 unit: short strings cannot be over the limit.
  if (json.length * 3 <= maxBytes) return json;
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return json;
  let keys: string[] = [];
  try {
    keys = Object.keys(JSON.parse(json) as object).slice(0, 50);
  } catch {
    // keep no keys
  }
  for (
    let previewChars = Math.floor(maxBytes / 4);
    previewChars >= 0;
    previewChars = Math.floor(previewChars / 2)
  ) {
    const marker = JSON.stringify({
      _truncated: true,
      _originalBytes: bytes,
      _keys: keys,
      _preview: json.slice(0, previewChars),
    });
    if (Buffer.byteLength(marker) <= maxBytes) return marker;
    if (previewChars === 0) keys = [];
  }
  return JSON.stringify({ _truncated: true, _originalBytes: bytes });
}
