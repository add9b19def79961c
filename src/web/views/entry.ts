/**
 * One log entry as HTML: a one-line summary that expands (<details>) to its fields, its details
 * as pretty JSON, the raw webhook payload and the stack trace. Everything in an entry is
 * untrusted and goes through `html` escaping.
 */
import type { LogEntry } from '../../log/types.js';
import { href, html, type SafeHtml } from '../html.js';

/** "2026-11-26T14:31:01.123Z" → "2026-11-26 14:31:01.123" (the page states that times are UTC). */
export function displayTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '');
}

/** Keys under which a webhook capture may keep the body exactly as received. */
const RAW_KEYS = ['rawBody', 'raw_body', 'raw'] as const;
const WEBHOOK_RAW_KEYS = ['body', 'payload'] as const;

export interface SplitDetails {
  rest: Record<string, unknown>;
  raw?: { key: string; body: string; encoding?: string };
}

/** Separates the raw webhook body (shown verbatim) from the other details (shown as pretty JSON). */
export function splitDetails(entry: LogEntry): SplitDetails {
  const d = entry.details && typeof entry.details === 'object' ? entry.details : {};
  const keys: readonly string[] =
    entry.category === 'webhook' ? [...RAW_KEYS, ...WEBHOOK_RAW_KEYS] : RAW_KEYS;
  for (const key of keys) {
    const v = d[key];
    if (typeof v === 'string') {
      const rest = { ...d };
      delete rest[key];
      // The logger records `rawBodyEncoding`: "utf8" (shown as text) or "base64" (bytes that were not UTF-8).
      const enc = d[`${key}Encoding`];
      const shownEnc = typeof enc === 'string' && enc !== 'utf8' ? { encoding: enc } : {};
      return { rest, raw: { key, body: v, ...shownEnc } };
    }
  }
  return { rest: d };
}

function prettyJson(text: string): string | undefined {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
}

/** The expanded part of an entry. */
export function entryBody(e: LogEntry): SafeHtml {
  const { rest, raw } = splitDetails(e);
  const restJson = JSON.stringify(rest, null, 2);
  const rawPretty = raw && raw.encoding === undefined ? prettyJson(raw.body) : undefined;
  return html`<div class="entry-body">
    <dl>
      <dt>Entry</dt>
      <dd><a href="/logs/entry/${encodeURIComponent(e.id)}">#${e.id}</a></dd>
      <dt>Time (UTC)</dt>
      <dd>${e.timestamp}</dd>
      <dt>Level</dt>
      <dd>${e.level}</dd>
      <dt>Category</dt>
      <dd><a href="${href('/logs', { category: e.category })}">${e.category}</a></dd>
      ${
        e.order_id !== null
          ? html`<dt>Order</dt>
              <dd>
                ${e.order_id} —
                <a class="order-link" href="${href('/logs', { order: e.order_id })}"
                  >all entries for this order</a
                >
              </dd>`
          : ''
      }
    </dl>
    <h4>Message</h4>
    <pre class="wrap message">${e.message}</pre>
    ${
      restJson !== '{}'
        ? html`<h4>Details</h4>
            <pre class="details">${restJson}</pre>`
        : ''
    }
    ${
      raw
        ? html`<h4>
              Raw webhook payload${raw.encoding ? html` <span class="note">(${raw.encoding})</span>` : ''}
            </h4>
            <pre class="wrap raw-payload">${raw.body}</pre>
            ${
              rawPretty
                ? html`<details>
                    <summary>Payload as formatted JSON</summary>
                    <pre>${rawPretty}</pre>
                  </details>`
                : ''
            }`
        : ''
    }
    ${
      e.error_stack
        ? html`<h4>Stack trace</h4>
            <pre class="stack">${e.error_stack}</pre>`
        : ''
    }
  </div>`;
}

/** One line of the results list, expandable. */
export function entryItem(e: LogEntry, open = false): SafeHtml {
  return html`<li>
    <details class="entry" id="e-${e.id}" ${open ? html`open` : ''}>
      <summary>
        <time class="ts" datetime="${e.timestamp}">${displayTime(e.timestamp)}</time>
        <span class="lvl lvl-${e.level}">${e.level}</span>
        <span class="cat">${e.category}</span>
        <span class="msg"
          >${e.message.length > 300 ? e.message.slice(0, 300) + '…' : e.message}${
            e.order_id !== null ? html`<span class="order-tag">order ${e.order_id}</span>` : ''
          }</span
        >
      </summary>
      ${entryBody(e)}
    </details>
  </li>`;
}
