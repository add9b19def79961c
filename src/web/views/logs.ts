/** The Logs page: the filter form, per-level counts, the results, paging and export links. */
import { LEVELS, type LogEntry } from '../../log/types.js';
import type { LevelCounts } from '../../log/store/types.js';
import { href, html, type SafeHtml } from '../html.js';
import { formParams, type FieldError, type LogsField, type LogsForm } from '../logs/filter.js';
import { entryItem } from './entry.js';

export interface LogsView {
  form: LogsForm;
  categories: readonly string[];
  errors: FieldError[];
  /** Absent when the filter was invalid (nothing was searched). */
  result?: {
    entries: LogEntry[];
    nextCursor?: string;
    /**
     * Counts per level for the filter without its level part (`partial`: counting stopped at the
     * limit, each a lower bound), or why they could not be counted.
     */
    counts: LevelCounts | { error: string };
  };
}

function fieldErrors(errors: FieldError[], field: LogsField): SafeHtml {
  const mine = errors.filter((e) => e.field === field);
  return html`${mine.map((e) => html`<span class="field-error" id="err-${field}">${e.message}</span>`)}`;
}

function invalid(errors: FieldError[], field: LogsField): SafeHtml | string {
  return errors.some((e) => e.field === field)
    ? html`aria-invalid="true" aria-describedby="err-${field}"`
    : '';
}

function filterForm(v: LogsView): SafeHtml {
  const { form, errors } = v;
  const cats = [...new Set([...v.categories, ...form.categories])];
  // autocomplete=off: without it the browser restores ticked boxes on Back, and the form would
  // disagree with the URL (the filter's one source of truth).
  return html`<form class="filters" method="get" action="/logs" role="search" autocomplete="off">
    <fieldset>
      <legend>Categories <span class="note">(none ticked = all)</span></legend>
      <div class="cats">
        ${cats.map(
          (c) =>
            html`<label
              ><input
                type="checkbox"
                name="category"
                value="${c}"
                ${form.categories.includes(c) ? html`checked` : ''}
              />
              ${c}</label
            >`,
        )}
      </div>
      ${fieldErrors(errors, 'categories')}
    </fieldset>
    <label class="field"
      >Level
      <select name="level" ${invalid(errors, 'level')}>
        <option value="">any</option>
        ${LEVELS.map((l) => html`<option value="${l}" ${form.level === l ? html`selected` : ''}>${l}</option>`)}
      </select>
      ${fieldErrors(errors, 'level')}
    </label>
    <label class="field"
      >Level match
      <select name="match" ${invalid(errors, 'match')}>
        <option value="min" ${form.match === 'min' ? html`selected` : ''}>this level or worse</option>
        <option value="exact" ${form.match === 'exact' ? html`selected` : ''}>exactly this level</option>
      </select>
      ${fieldErrors(errors, 'match')}
    </label>
    <label class="field"
      >From (UTC)
      <input
        type="text"
        name="since"
        value="${form.since}"
        placeholder="2026-11-26 14:00 or 24h"
        inputmode="text"
        ${invalid(errors, 'since')}
      />
      <span class="hint">inclusive; a date, a date and time, or an age such as 24h, 7d</span>
      ${fieldErrors(errors, 'since')}
    </label>
    <label class="field"
      >To (UTC)
      <input
        type="text"
        name="until"
        value="${form.until}"
        placeholder="2026-11-27"
        ${invalid(errors, 'until')}
      />
      <span class="hint">exclusive; a date alone includes that whole day</span>
      ${fieldErrors(errors, 'until')}
    </label>
    <label class="field"
      >Order id
      <input
        type="text"
        name="order"
        value="${form.order}"
        autocapitalize="none"
        spellcheck="false"
        ${invalid(errors, 'order')}
      />
      ${fieldErrors(errors, 'order')}
    </label>
    <label class="field"
      >Text
      <input
        type="search"
        name="q"
        value="${form.q}"
        placeholder='card declined, "exact phrase", refund*'
        ${invalid(errors, 'q')}
      />
      ${fieldErrors(errors, 'q')}
    </label>
    <div class="actions">
      <button type="submit" id="search">Search</button>
      <a href="/logs">Clear filters</a>
      <span class="note">All times are UTC.</span>
    </div>
  </form>`;
}

function countsBar(v: LogsView, counted: LevelCounts | { error: string }): SafeHtml {
  const base = { ...formParams(v.form), cursor: '' };
  const exactHref = href('/logs', { ...formParams(v.form), counts: 'exact' });
  let counts: SafeHtml;
  if ('error' in counted) {
    counts = html`<span class="counts" id="counts-error"
      >Counts per level are unavailable: ${counted.error}
      ${
        v.form.counts === 'exact'
          ? html`<a href="${href('/logs', formParams(v.form))}">Quick counts</a>`
          : html`<a href="${exactHref}" id="exact-counts">Try exact counts</a>`
      }</span
    >`;
  } else {
    const { partial } = counted;
    const total = LEVELS.reduce((n, l) => n + counted.counts[l], 0);
    // "at least": counting stopped after a limit (a common word on a large store); exact counts
    // are one click away (a plain link: works without JavaScript).
    const atLeast = partial ? html`<abbr title="at least">≥</abbr>&nbsp;` : '';
    counts = html`<span
      class="counts${partial ? ' partial' : ''}"
      aria-label="Entries per level (level filter not applied)${partial ? ', at least' : ''}"
    >
      <strong>${partial ? 'at least ' : ''}${total.toLocaleString('en-US')}</strong> matching ·
      ${LEVELS.map(
        (l) =>
          html`<a class="count-${l}" href="${href('/logs', { ...base, level: l, match: 'exact' })}"
            >${l}&nbsp;${atLeast}${counted.counts[l].toLocaleString('en-US')}</a
          >`,
      )}
      ${
        partial
          ? html`<a
              id="exact-counts"
              href="${exactHref}"
              title="Count every matching entry (may take a while)"
              >Exact counts</a
            >`
          : ''
      }
    </span>`;
  }
  return html`<div class="summary-bar">
    ${counts}
    <span class="export"
      >Export:
      <a id="export-ndjson" href="${href('/logs/export', { ...base, format: 'ndjson' })}">NDJSON</a> ·
      <a id="export-csv" href="${href('/logs/export', { ...base, format: 'csv' })}">CSV</a></span
    >
  </div>`;
}

/** The page body. */
export function logsPage(v: LogsView): SafeHtml {
  const errors = v.errors.length
    ? html`<div class="errors" role="alert" id="filter-errors">
        The filter has ${v.errors.length === 1 ? 'a problem' : 'problems'}; nothing was searched.
        <ul>
          ${v.errors.map((e) => html`<li>${e.message}</li>`)}
        </ul>
      </div>`
    : '';
  let results: SafeHtml | string = '';
  if (v.result) {
    const { entries, nextCursor } = v.result;
    const params = formParams(v.form);
    results = html`${countsBar(v, v.result.counts)}
      ${
        v.form.level
          ? html`<p class="note">Counts per level ignore the level filter; the list below applies it.</p>`
          : ''
      }
      ${
        entries.length
          ? html`<ul class="entries" id="entries">
              ${entries.map((e) => entryItem(e))}
            </ul>`
          : html`<p id="no-entries">No entries match this filter${v.form.cursor ? ' on this page' : ''}.</p>`
      }
      <nav class="pager" aria-label="Pages">
        ${v.form.cursor ? html`<a href="${href('/logs', { ...params, cursor: '' })}" id="newest">← Newest</a>` : ''}
        ${nextCursor ? html`<a href="${href('/logs', { ...params, cursor: nextCursor })}" id="older" rel="next">Older →</a>` : ''}
      </nav>`;
  }
  return html`<h1>Logs</h1>
    ${errors} ${filterForm(v)} ${results}`;
}
