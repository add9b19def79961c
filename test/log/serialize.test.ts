import { describe, expect, it } from 'vitest';
import { messageWithCauses, stackWithCauses } from '../../src/log/error-stack.js';
import { Redactor } from '../../src/log/redact.js';
import { fitDetails, serializeDetails, serializeError } from '../../src/log/serialize.js';

const r = new Redactor();

describe('details serialisation', () => {
  it('handles circular references, BigInt, Buffers, Dates, Maps, Sets, functions and symbols', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const shared = { x: 1 };
    const d = {
      a,
      twice: [shared, shared],
      big: 12345678901234567890n,
      buf: Buffer.from('héllo'),
      when: new Date(Date.UTC(2026, 10, 26, 14, 31, 1, 123)),
      bad: new Date(NaN),
      map: new Map<unknown, unknown>([
        [1, 'one'],
        ['k', { deep: true }],
      ]),
      set: new Set(['x', 'y']),
      fn: function namedFn() {},
      sym: Symbol('s'),
      nan: NaN,
      inf: -Infinity,
      undef: undefined,
      arr: [undefined, () => 1],
    };
    const out = JSON.parse(serializeDetails(d, r, 65536));
    expect(out.a).toEqual({ name: 'a', self: '[Circular]' });
    expect(out.twice).toEqual([{ x: 1 }, { x: 1 }]); // shared, not circular
    expect(out.big).toBe('12345678901234567890');
    expect(out.buf).toEqual({ type: 'Buffer', bytes: 6, base64: Buffer.from('héllo').toString('base64') });
    expect(out.when).toBe('2026-11-26T14:31:01.123Z');
    expect(out.bad).toBe('Invalid Date');
    expect(out.map).toEqual({ 1: 'one', k: { deep: true } });
    expect(out.set).toEqual(['x', 'y']);
    expect(out.fn).toBe('[Function namedFn]');
    expect(out.sym).toBe('Symbol(s)');
    expect(out.nan).toBe('NaN');
    expect(out.inf).toBe('-Infinity');
    expect('undef' in out).toBe(false);
    expect(out.arr).toEqual([null, '[Function]']);
  });

  it('survives throwing getters and toJSON, and keeps __proto__ as a plain key', () => {
    const tricky = {
      get boom(): string {
        throw new Error('getter exploded');
      },
      obj: {
        toJSON() {
          throw new Error('nope');
        },
      },
      ...JSON.parse('{"__proto__": {"polluted": true}}'),
    };
    const out = JSON.parse(serializeDetails(tricky, r, 65536));
    expect(out.boom).toBe('[getter threw: getter exploded]');
    expect(out.obj).toBe('[toJSON threw: nope]');
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('wraps non-object details and merges bound fields (the call wins)', () => {
    expect(JSON.parse(serializeDetails(42, r, 65536))).toEqual({ value: 42 });
    expect(JSON.parse(serializeDetails(['a'], r, 65536))).toEqual({ value: ['a'] });
    expect(JSON.parse(serializeDetails({ b: 2, a: 9 }, r, 65536, { a: 1, req: 'r1' }))).toEqual({
      a: 9,
      req: 'r1',
      b: 2,
    });
    expect(serializeDetails(undefined, r, 65536)).toBe('{}');
  });

  it('truncates oversized details with a visible marker and the original size', () => {
    const huge = { rows: Array.from({ length: 5000 }, (_, i) => ({ i, text: 'x'.repeat(40) })) };
    const json = serializeDetails(huge, r, 4096);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(4096);
    const out = JSON.parse(json);
    expect(out._truncated).toBe(true);
    expect(out._originalBytes).toBeGreaterThan(200_000);
    expect(out._keys).toEqual(['rows']);
    expect(out._preview.startsWith('{"rows":[{"i":0')).toBe(true);
    // Multi-byte text is measured in bytes, not characters.
    const wide = fitDetails(JSON.stringify({ s: '€'.repeat(2000) }), 4096);
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(4096);
    expect(JSON.parse(wide)._truncated).toBe(true);
  });

  it('cuts absurdly deep or large structures instead of freezing the event loop', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 100; i++) deep = { next: deep };
    const out = JSON.parse(serializeDetails(deep, r, 1 << 20));
    expect(out._truncated).toBe(true);
    expect(JSON.stringify(out)).toContain('[Too deep]');
    const wide = { items: Array.from({ length: 200_000 }, (_, i) => ({ i })) };
    const t0 = performance.now();
    const json = serializeDetails(wide, r, 1 << 24);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(JSON.parse(json)._truncated).toBe(true);
  });
});

describe('errors', () => {
  it('keeps message, stack and the whole cause chain, like pino', () => {
    const root = new TypeError('socket hang up');
    const mid = new Error('payment provider unreachable', { cause: root });
    const top = Object.assign(new Error('checkout failed', { cause: mid }), {
      code: 'E_CHECKOUT',
      orderId: 1042,
    });
    expect(messageWithCauses(top)).toBe('checkout failed: payment provider unreachable: socket hang up');
    const stack = stackWithCauses(top)!;
    expect(stack.startsWith('Error: checkout failed\n    at ')).toBe(true);
    expect(stack).toContain('\ncaused by: Error: payment provider unreachable\n    at ');
    expect(stack).toContain('\ncaused by: TypeError: socket hang up\n    at ');
    const d = serializeError(top, r, false) as Record<string, unknown>;
    expect(d).toEqual({
      type: 'Error',
      message: 'checkout failed',
      code: 'E_CHECKOUT',
      orderId: 1042,
      cause: {
        type: 'Error',
        message: 'payment provider unreachable',
        cause: { type: 'TypeError', message: 'socket hang up' },
      },
    });
  });

  it('lists AggregateError members and cuts cause cycles', () => {
    const agg = new AggregateError(
      [new Error('mail server 1 down'), new RangeError('mail server 2 down')],
      'no mail server',
    );
    const stack = stackWithCauses(agg)!;
    expect(stack).toContain('[errors[0]] Error: mail server 1 down');
    expect(stack).toContain('[errors[1]] RangeError: mail server 2 down');
    const d = serializeError(agg, r, false) as { aggregateErrors: { message: string }[] };
    expect(d.aggregateErrors.map((e) => e.message)).toEqual(['mail server 1 down', 'mail server 2 down']);

    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(stackWithCauses(b)).toContain('[circular cause]');
    expect(messageWithCauses(b)).toBe('b: a');
    expect(JSON.stringify(serializeError(b, r, false))).toContain('[Circular]');
  });

  it('describes thrown non-errors', () => {
    expect(stackWithCauses('just a string')).toBeNull();
    expect(messageWithCauses('just a string')).toBe('just a string');
    expect(serializeError({ code: 7 }, r, false)).toEqual({ type: 'object', value: { code: 7 } });
  });
});
