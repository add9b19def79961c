/**
 * The panel's only static assets, kept as strings so the build needs no copy step. Served from
 * /static/ with the Content-Security-Policy allowing scripts and styles from our own origin only
 * (no inline script or style anywhere, so an injected `<script>` could not run even if escaping
 * ever failed).
 */
import { createHash } from 'node:crypto';

export const APP_CSS = `
:root { --fg:#1d232a; --muted:#5b6670; --bg:#fff; --line:#d9dee3; --accent:#1f5fbf; --soft:#f4f6f8;
  --info:#2f6f3e; --warn:#8a5a00; --error:#b3261e; --critical:#fff; --critical-bg:#8b0000; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); overflow-wrap:anywhere; }
a { color:var(--accent); }
header.top { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:center; padding:.6rem 1rem; border-bottom:1px solid var(--line); background:var(--soft); }
header.top .brand { font-weight:700; margin-right:auto; }
header.top nav a { margin-right:.8rem; }
header.top nav a[aria-current="page"] { font-weight:700; text-decoration:none; color:var(--fg); }
header.top form { display:inline; margin:0; }
main { padding:1rem; max-width:80rem; margin:0 auto; }
h1 { font-size:1.35rem; margin:.2rem 0 .8rem; }
h2 { font-size:1.1rem; }
h4 { margin:.8rem 0 .3rem; font-size:.95rem; }
.note { color:var(--muted); font-size:.9rem; }
.flash { padding:.6rem .8rem; background:#eef5ff; border:1px solid #b8d0f5; border-radius:4px; margin-bottom:1rem; }
.errors { padding:.6rem .8rem; background:#fdecea; border:1px solid #f5c2bd; border-radius:4px; margin-bottom:1rem; color:#7a1c15; }
.errors ul { margin:.3rem 0 0; padding-left:1.2rem; }
.field-error { color:var(--error); font-size:.85rem; font-weight:400; display:block; }
form.filters { display:grid; grid-template-columns:repeat(auto-fit,minmax(13rem,1fr)); gap:.6rem 1rem; padding:.8rem; background:var(--soft); border:1px solid var(--line); border-radius:6px; margin-bottom:1rem; }
form.filters fieldset { grid-column:1/-1; border:0; padding:0; margin:0; min-width:0; }
form.filters legend { font-weight:600; padding:0; margin-bottom:.2rem; }
.cats { display:flex; flex-wrap:wrap; gap:.2rem .9rem; }
.cats label { white-space:nowrap; }
label.field { display:flex; flex-direction:column; gap:.15rem; font-weight:600; font-size:.9rem; min-width:0; }
label.field span.hint { font-weight:400; color:var(--muted); font-size:.8rem; }
input, select, button { font:inherit; max-width:100%; }
input[type=text], input[type=password], input[type=search], select { padding:.35rem .45rem; border:1px solid #b7c0c8; border-radius:4px; width:100%; background:#fff; }
input[aria-invalid=true], select[aria-invalid=true] { border-color:var(--error); }
.actions { grid-column:1/-1; display:flex; flex-wrap:wrap; gap:.6rem; align-items:center; }
button, .button { padding:.4rem .9rem; border:1px solid var(--accent); background:var(--accent); color:#fff; border-radius:4px; cursor:pointer; text-decoration:none; display:inline-block; }
button.link { background:none; border:0; color:var(--accent); padding:0; text-decoration:underline; }
.button.secondary { background:#fff; color:var(--accent); }
.summary-bar { display:flex; flex-wrap:wrap; gap:.4rem 1rem; align-items:center; margin:.5rem 0 1rem; }
.counts a, .counts span { margin-right:.6rem; white-space:nowrap; }
.entries { list-style:none; margin:0; padding:0; border-top:1px solid var(--line); }
.entries > li { border-bottom:1px solid var(--line); }
details.entry > summary { display:grid; grid-template-columns:12.5rem 4.8rem 6.5rem minmax(0,1fr); gap:.2rem .7rem; padding:.45rem .3rem; cursor:pointer; list-style:none; align-items:baseline; }
details.entry > summary::-webkit-details-marker { display:none; }
details.entry > summary::before { content:"\\25B8"; position:absolute; left:.3rem; top:.45rem; color:var(--muted); }
details.entry[open] > summary::before { content:"\\25BE"; }
details.entry > summary { position:relative; padding-left:1.1rem; }
details.entry > summary:hover { background:var(--soft); }
details.entry[open] > summary { background:var(--soft); }
.ts { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:.85rem; color:var(--muted); }
.msg { unicode-bidi:isolate; white-space:pre-wrap; overflow-wrap:anywhere; min-width:0; }
.order-tag { font-size:.8rem; color:var(--muted); margin-left:.4rem; }
.lvl { font-size:.75rem; font-weight:700; text-transform:uppercase; padding:.05rem .35rem; border-radius:3px; justify-self:start; }
.lvl-info { color:var(--info); background:#e7f3ea; }
.lvl-warn { color:var(--warn); background:#fff3d6; }
.lvl-error { color:var(--error); background:#fdecea; }
.lvl-critical { color:var(--critical); background:var(--critical-bg); }
.cat { font-size:.85rem; color:var(--muted); overflow-wrap:anywhere; }
.entry-body { padding:.3rem .6rem .9rem 1.1rem; }
.entry-body dl { display:grid; grid-template-columns:max-content minmax(0,1fr); gap:.15rem .8rem; margin:.3rem 0; }
.entry-body dt { color:var(--muted); }
.entry-body dd { margin:0; overflow-wrap:anywhere; }
pre { background:#f6f8fa; border:1px solid var(--line); border-radius:4px; padding:.6rem; overflow:auto; max-height:32rem; white-space:pre; font-size:.82rem; max-width:100%; }
pre.wrap { white-space:pre-wrap; overflow-wrap:anywhere; }
.pager { display:flex; gap:1rem; margin:1rem 0; flex-wrap:wrap; }
.login { max-width:24rem; margin:3rem auto; padding:1.2rem; border:1px solid var(--line); border-radius:8px; }
.login label.field { margin-bottom:.8rem; }
.banner { padding:.8rem 1rem; border-radius:6px; font-weight:600; margin-bottom:1rem; }
.banner.ok { background:#e7f3ea; color:var(--info); border:1px solid #b9dcc2; }
.banner.attention { background:#fdecea; color:var(--error); border:1px solid #f5c2bd; }
table.plain { border-collapse:collapse; width:100%; display:block; overflow-x:auto; }
table.plain th, table.plain td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
.visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
@media (max-width: 42rem) {
  main { padding:.6rem; }
  details.entry > summary { grid-template-columns:auto auto minmax(0,1fr); }
  details.entry > summary .ts { grid-column:1/-1; }
  details.entry > summary .msg { grid-column:1/-1; }
  .entry-body { padding-left:.4rem; padding-right:.2rem; }
}
`;

/**
 * Progressive enhancement only (the panel works without it): shows each UTC time's local
 * equivalent as a tooltip, and lets an entry be opened from the URL fragment (#e-<id>).
 */
export const APP_JS = `'use strict';
document.querySelectorAll('time[datetime]').forEach(function (t) {
  var d = new Date(t.getAttribute('datetime'));
  if (!isNaN(d.getTime())) t.title = 'Your local time: ' + d.toLocaleString();
});
if (location.hash && /^#e-\\d+$/.test(location.hash)) {
  var el = document.getElementById(location.hash.slice(1));
  if (el && el.tagName === 'DETAILS') el.open = true;
}
`;

function etag(text: string): string {
  return '"' + createHash('sha256').update(text).digest('base64url').slice(0, 16) + '"';
}

export interface StaticAsset {
  body: string;
  type: string;
  etag: string;
}

/** The assets by URL path. */
export const STATIC_ASSETS: Record<string, StaticAsset> = {
  '/static/app.css': { body: APP_CSS, type: 'text/css; charset=utf-8', etag: etag(APP_CSS) },
  '/static/app.js': { body: APP_JS, type: 'text/javascript; charset=utf-8', etag: etag(APP_JS) },
};
