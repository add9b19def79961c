import { describe, expect, it } from 'vitest';
import { escapeHtml, href, html, SafeHtml, trustedHtml } from '../../src/web/html.js';

describe('escapeHtml', () => {
  it('escapes every character that can open markup or close an attribute', () => {
    expect(escapeHtml(`<script>alert("x") & 'y' \`z\`</script>`)).toBe(
      '&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39; &#96;z&#96;&lt;/script&gt;',
    );
  });

  it('leaves plain text and non-ASCII alone, replaces NUL', () => {
    expect(escapeHtml('Bestellung 1042 — Zahlung ok ✓')).toBe('Bestellung 1042 — Zahlung ok ✓');
    expect(escapeHtml('a\u0000b')).toBe('a\uFFFDb');
  });

  it('does not double-escape when applied once per interpolation', () => {
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
  });
});

describe('html tagged template', () => {
  it('escapes interpolated strings, numbers and objects', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const out = html`<p title="${evil}">${evil} ${42} ${{ toString: () => '<b>' }}</p>`;
    expect(out).toBeInstanceOf(SafeHtml);
    expect(out.value).toBe(
      '<p title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt; 42 &lt;b&gt;</p>',
    );
  });

  it('passes nested fragments through once, and escapes arrays item by item', () => {
    const items = ['<a>', '"b"'].map((x) => html`<li>${x}</li>`);
    // prettier-ignore
    expect(html`<ul>${items}</ul>`.value).toBe('<ul><li>&lt;a&gt;</li><li>&quot;b&quot;</li></ul>');
    // prettier-ignore
    expect(html`${['<x>', html`<y>`]}`.value).toBe('&lt;x&gt;<y>');
  });

  it('renders null, undefined and false as nothing (for conditional parts), but 0 and true as text', () => {
    expect(html`[${null}${undefined}${false}${0}${true}]`.value).toBe('[0true]');
  });

  it('an attribute value cannot be broken out of', () => {
    const out = html`<input value="${'" autofocus onfocus="alert(1)'}" />`.value;
    expect(out).toBe('<input value="&quot; autofocus onfocus=&quot;alert(1)" />');
    expect(out.match(/"/g)).toHaveLength(2);
  });

  it('a string that looks like a SafeHtml is still escaped; only real fragments pass', () => {
    const fake = { value: '<script>', toString: () => '<script>' };
    expect(html`${fake}`.value).toBe('&lt;script&gt;');
    expect(html`${trustedHtml('<hr>')}`.value).toBe('<hr>');
  });
});

describe('href', () => {
  it('encodes values, repeats array keys, drops empty ones', () => {
    expect(href('/logs', { category: ['payment', 'web hook'], level: '', q: 'a&b=<c>', x: undefined })).toBe(
      '/logs?category=payment&category=web+hook&q=a%26b%3D%3Cc%3E',
    );
    expect(href('/logs')).toBe('/logs');
  });

  it('its output is still escaped when put into an attribute', () => {
    const url = href('/logs', { order: '"><script>' });
    expect(html`<a href="${url}">x</a>`.value).toBe('<a href="/logs?order=%22%3E%3Cscript%3E">x</a>');
  });
});
