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
/* Backups page */
.page-head { display:flex; flex-wrap:wrap; align-items:baseline; gap:.2rem 1rem; }
section.banner p { margin:0; }
.banner-title { font-size:1.15rem; display:flex; align-items:center; gap:.5rem; }
.banner-icon { display:inline-flex; align-items:center; justify-content:center; width:1.6rem; height:1.6rem; border-radius:50%; color:#fff; font-size:1rem; flex:none; }
.banner.ok .banner-icon { background:var(--info); }
.banner.attention .banner-icon { background:var(--error); }
.banner-summary { margin-top:.25rem !important; font-weight:400; color:var(--fg); }
.banner ul { margin:.4rem 0 0; padding-left:1.3rem; font-weight:400; color:#7a1c15; }
.banner li + li { margin-top:.2rem; }
.activity { border:1px solid var(--line); border-left:4px solid var(--muted); border-radius:6px; padding:.6rem .9rem; margin-bottom:1rem; background:#fff; }
.activity.busy { border-left-color:var(--accent); background:#f5f9ff; }
.activity h2 { margin:.1rem 0 .4rem; font-size:1rem; }
.activity p { margin:.3rem 0; }
.requests { list-style:none; margin:.3rem 0; padding:0; }
.requests > li + li { margin-top:.5rem; padding-top:.5rem; border-top:1px dashed var(--line); }
.requests ul { margin:.25rem 0 0; padding-left:1.1rem; }
.job-name { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:.88rem; }
.spinner { display:inline-block; width:.85rem; height:.85rem; border:2px solid #b8d0f5; border-top-color:var(--accent); border-radius:50%; vertical-align:-1px; animation:spin 1s linear infinite; margin-right:.2rem; }
@keyframes spin { to { transform:rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation:none; } }
section.buttons { display:flex; flex-wrap:wrap; gap:.6rem; align-items:center; margin:0 0 1.2rem; }
section.buttons form { margin:0; }
section.buttons p.note { flex:1 1 22rem; margin:0; }
button.secondary { background:#fff; color:var(--accent); }
button:hover { filter:brightness(.95); }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(14rem,1fr)); gap:.8rem; margin-bottom:1.2rem; }
.card { border:1px solid var(--line); border-top:4px solid var(--line); border-radius:6px; padding:.6rem .8rem; background:#fff; min-width:0; }
.card.good { border-top-color:#3d8b50; }
.card.bad { border-top-color:var(--error); }
.card h2 { font-size:.8rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 .2rem; }
.card .figure { font-size:1.45rem; font-weight:700; margin:0 0 .2rem; line-height:1.2; }
.card.bad .figure { color:var(--error); }
.card p.note { margin:.1rem 0; }
.card meter { width:100%; height:.7rem; margin-top:.3rem; }
.repo-url { margin:.3rem 0 0; font-size:.8rem; color:var(--muted); overflow-wrap:anywhere; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:.85em; }
table.grid { border-collapse:collapse; width:100%; margin-bottom:1rem; }
table.grid th, table.grid td { text-align:left; padding:.4rem .55rem; border-bottom:1px solid var(--line); vertical-align:top; }
table.grid thead th { background:var(--soft); font-size:.85rem; color:var(--muted); font-weight:600; border-bottom:1px solid #c9d0d6; }
table.grid tbody th { font-weight:600; }
@media (hover: hover) { table.grid tbody tr:hover { background:#fafbfc; } }
.run-summary { font-size:.85rem; color:var(--muted); margin-top:.15rem; }
.run-error { font-size:.85rem; color:var(--error); margin-top:.15rem; }
.badge { display:inline-block; font-size:.75rem; font-weight:700; padding:.05rem .45rem; border-radius:999px; white-space:nowrap; text-transform:uppercase; letter-spacing:.02em; }
.badge.good { color:#1e5e2f; background:#dff0e3; }
.badge.bad { color:#fff; background:var(--error); }
.badge.warn { color:var(--warn); background:#fff3d6; }
.badge.run { color:#fff; background:var(--accent); }
.badge.idle { color:var(--muted); background:#eceff2; }
.kind { font-size:.85rem; padding:.05rem .4rem; border-radius:3px; background:#eceff2; }
.kind-full { background:#e3ecfa; color:#1f4f99; }
.kind-files { background:#f3e8fb; color:#6a2f8f; }
.tabs { display:flex; flex-wrap:wrap; gap:.3rem; margin:.2rem 0 .6rem; }
.tabs a { padding:.2rem .6rem; border:1px solid var(--line); border-radius:999px; text-decoration:none; text-transform:capitalize; font-size:.9rem; }
.tabs a[aria-current="page"] { background:var(--accent); border-color:var(--accent); color:#fff; }
.tabs .count { font-size:.8rem; opacity:.8; }
ul.history { list-style:none; margin:0 0 .6rem; padding:0; border-top:1px solid var(--line); }
ul.history > li { border-bottom:1px solid var(--line); }
details.run > summary { cursor:pointer; padding:.45rem .3rem .45rem 1.1rem; position:relative; list-style:none; }
details.run > summary::-webkit-details-marker { display:none; }
details.run > summary::before { content:"\\25B8"; position:absolute; left:.3rem; top:.45rem; color:var(--muted); }
details.run[open] > summary::before { content:"\\25BE"; }
details.run > summary:hover, details.run[open] > summary { background:var(--soft); }
.run-facts { margin-left:.3rem; }
.run-body { padding:.3rem .6rem .8rem 1.1rem; }
.run-body dl { display:grid; grid-template-columns:max-content minmax(0,1fr); gap:.15rem .8rem; margin:.3rem 0 .6rem; }
.run-body dt { color:var(--muted); }
.run-body dd { margin:0; overflow-wrap:anywhere; }
table.checks { border-collapse:collapse; width:100%; font-size:.9rem; }
table.checks th, table.checks td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
table.checks thead th { color:var(--muted); font-weight:600; font-size:.8rem; }
table.checks td.detail { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:.8rem; overflow-wrap:anywhere; }
table.checks tr.fail td { background:#fdf3f2; }
td.nowrap { white-space:nowrap; overflow-wrap:normal; }
.restore-help { margin-top:1.5rem; padding:.2rem 1rem .6rem; background:var(--soft); border:1px solid var(--line); border-radius:6px; }
.restore-help dl.commands { margin:.4rem 0 .6rem; }
.restore-help dl.commands dt code { display:inline-block; background:#fff; border:1px solid var(--line); border-radius:4px; padding:.15rem .45rem; font-size:.82rem; overflow-wrap:anywhere; }
.restore-help dl.commands dd { margin:.15rem 0 .55rem .2rem; color:var(--muted); font-size:.88rem; }
pre.runbook { max-height:none; font-size:.85rem; line-height:1.5; padding:1rem; }
table.plain { border-collapse:collapse; width:100%; display:block; overflow-x:auto; }
table.plain th, table.plain td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
.visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
@media (max-width: 42rem) {
  main { padding:.6rem; }
  details.entry > summary { grid-template-columns:auto auto minmax(0,1fr); }
  details.entry > summary .ts { grid-column:1/-1; }
  details.entry > summary .msg { grid-column:1/-1; }
  .entry-body { padding-left:.4rem; padding-right:.2rem; }
  /* Tables become stacked cards, each cell labelled by its column. */
  table.grid, table.grid tbody, table.grid tr, table.grid th, table.grid td,
  table.checks, table.checks tbody, table.checks tr, table.checks td { display:block; width:100%; }
  table.grid thead, table.checks thead { display:none; }
  table.grid tr { border:1px solid var(--line); border-radius:6px; margin-bottom:.6rem; padding:.3rem .5rem; }
  table.grid th, table.grid td { border:0; padding-top:.2rem; padding-bottom:.2rem; padding-right:0; }
  table.grid th { padding-left:0; }
  table.grid tbody th { font-size:1rem; }
  /* Each cell's label sits in a narrow column at its left, so a row stays short. */
  table.grid td[data-label], table.checks td[data-label] { position:relative; padding-left:6.2rem; min-height:1.4rem; }
  table.grid td[data-label]::before, table.checks td[data-label]::before { content:attr(data-label); position:absolute; left:0; top:.25rem; width:5.8rem; font-size:.72rem; line-height:1.5; color:var(--muted); text-transform:uppercase; letter-spacing:.03em; overflow-wrap:normal; }
  table.checks tr { border-bottom:1px solid var(--line); padding:.3rem 0; }
  table.checks td { border:0; padding-top:.1rem; padding-bottom:.1rem; padding-right:0; }
  .run-body { padding-left:.3rem; padding-right:.1rem; }
  .card .figure { font-size:1.25rem; }
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
