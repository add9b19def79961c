import { describe, expect, it } from 'vitest';
import { formParams, parseLogsQuery, parseTime } from '../../src/web/logs/filter.js';

const CATS = ['webhook', 'payment', 'order', 'admin', 'security'];
const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

describe('parseLogsQuery', () => {
  it('an empty query is an empty filter', () => {
    const p = parseLogsQuery({}, CATS, NOW);
    expect(p.errors).toEqual([]);
    expect(p.filter).toEqual({});
    expect(p.cursor).toBeUndefined();
  });

  it('reads every field into a LogFilter', () => {
    const p = parseLogsQuery(
      {
        category: ['payment', 'webhook', 'payment'],
        level: 'warn',
        since: '2026-11-01',
        until: '2026-11-25 18:30',
        order: ' 1042 ',
        q: 'card declined',
        cursor: 'MTIzOjQ1',
      },
      CATS,
      NOW,
    );
    expect(p.errors).toEqual([]);
    expect(p.filter).toEqual({
      categories: ['payment', 'webhook'],
      minLevel: 'warn',
      since: Date.UTC(2026, 10, 1),
      until: Date.UTC(2026, 10, 25, 18, 30),
      orderId: '1042',
      text: 'card declined',
    });
    expect(p.cursor).toBe('MTIzOjQ1');
  });

  it('exact level match; "info or worse" is no filter at all', () => {
    expect(parseLogsQuery({ level: 'error', match: 'exact' }, CATS, NOW).filter).toEqual({ level: 'error' });
    expect(parseLogsQuery({ level: 'info' }, CATS, NOW).filter).toEqual({});
  });

  it('relative times count back from now; a date alone as "To" includes that day', () => {
    expect(parseLogsQuery({ since: '24h' }, CATS, NOW).filter.since).toBe(NOW - 86_400_000);
    expect(parseLogsQuery({ until: '2026-11-25' }, CATS, NOW).filter.until).toBe(Date.UTC(2026, 10, 26));
    expect(parseTime('2026-11-25T10:00:00+02:00', NOW, 'start')).toBe(Date.UTC(2026, 10, 25, 8));
    expect(parseTime('2026-02-31', NOW, 'start')).toBeNull();
  });

  it.each([
    [{ level: 'loud' }, 'level', '"loud" is not a level'],
    [{ match: 'most' }, 'match', '"most" is not a level match'],
    [{ category: 'nope' }, 'categories', '"nope" is not a log category'],
    [{ since: 'yesterday-ish' }, 'since', '"From": "yesterday-ish" is not a time'],
    [{ until: '2026-13-01' }, 'until', 'is not a time'],
    [{ since: '2026-11-02', until: '2026-11-01' }, 'until', 'must be later than'],
    [{ q: '!!! ???' }, 'q', 'has no word to search for'],
    [{ q: 'x'.repeat(501) }, 'q', 'at most 500'],
    [{ order: ['1', '2'] }, 'order', 'given 2 times'],
    [{ cursor: 'abc$%' }, 'cursor', 'damaged'],
    [{ order: 'a\u0001b' }, 'order', 'control characters'],
  ])('rejects %j with a message on the field', (query, field, message) => {
    const p = parseLogsQuery(query, CATS, NOW);
    expect(p.errors.length).toBeGreaterThan(0);
    expect(p.errors[0]!.field).toBe(field);
    expect(p.errors[0]!.message).toContain(message);
  });

  it('collects every problem at once', () => {
    const p = parseLogsQuery({ level: 'x', since: 'y', category: 'z' }, CATS, NOW);
    expect(p.errors.map((e) => e.field).sort()).toEqual(['categories', 'level', 'since']);
  });

  it('formParams round-trips the form', () => {
    const p = parseLogsQuery(
      { category: ['order'], level: 'error', match: 'exact', q: 'refund*' },
      CATS,
      NOW,
    );
    const again = parseLogsQuery(formParams(p.form), CATS, NOW);
    expect(again.filter).toEqual(p.filter);
  });
});
