/**
 * HTML output with escaping by default. Every page is built with the `html` tagged template:
 * interpolated values are escaped unless they are already `SafeHtml` (the result of another `html`
 * template), so log content — which is untrusted, it comes from webhooks, customers and errors —
 * can never become markup. There is deliberately no way to mark an arbitrary runtime string as
 * safe except `trustedHtml`, which is only for constants written in this code base.
 */

/** A fragment of HTML that is known to be safe (built by `html` or a trusted constant). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
  // NUL is replaced by the HTML parser anyway; doing it here keeps the output unambiguous.
  '\u0000': '\uFFFD',
};

/**
 * Escapes text for use in HTML element content and in quoted attribute values. (Attribute values
 * must always be quoted in templates; an unquoted attribute could be broken by a space.)
 */
export function escapeHtml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[&<>"'`\u0000]/g, (c) => ESCAPES[c]!);
}

/** Renders one interpolated value: safe fragments as they are, arrays item by item, the rest escaped. */
function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** Tagged template: `html\`<p>${untrusted}</p>\`` escapes `untrusted`; nested `html` fragments pass through. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/** Marks a constant written in this code base (never runtime data) as HTML. */
export function trustedHtml(constant: string): SafeHtml {
  return new SafeHtml(constant);
}

/**
 * A same-site URL: `path` (a constant of ours) plus query parameters, encoded. Repeated keys come
 * from array values; empty values are left out so URLs stay short and shareable.
 */
export function href(path: string, params: Record<string, string | string[] | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined && v !== '') q.append(key, v);
  }
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}
