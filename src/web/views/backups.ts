/**
 * The Backups page: the health banner and warnings, what runs now (and the result of a button
 * press once it is done), the two buttons, the objectives, the newest point of each kind, the
 * schedule, the restore points (paged), and the restore-test and drill history with every check.
 * Everything shown may hold text from the repository, the state file or error messages, so it all
 * goes through `html` escaping. Works without JavaScript; tables turn into stacked cards on a
 * phone (CSS, by the `data-label` of each cell).
 */
import { formatBytes } from '../../util/format.js';
import {
  POINT_KINDS,
  type BackupsQueryError,
  type BackupsStatus,
  type CheckView,
  type DrillView,
  type JobRunView,
  type JobView,
  type PointView,
  type RequestView,
  type RestoreTestView,
} from '../backups.js';
import { href, html, type SafeHtml } from '../html.js';

/** Seconds between reloads while a job runs or waits (meta refresh: no JavaScript needed). */
export const REFRESH_SECONDS = 3;
/** Right after a button press, reload faster: most runs of a small shop take a second or two. */
export const FAST_REFRESH_SECONDS = 1;
const FAST_REFRESH_WINDOW_MS = 15_000;

const KIND_LABEL: Record<string, string> = {
  full: 'Full database',
  incremental: 'Incremental database',
  files: 'Files',
};

const REASON_LABEL: Record<string, string> = {
  schedule: 'scheduled',
  'catch-up': 'catching up a run missed while the server was down',
  manual: 'asked for from this panel',
};

/** True while something runs or waits, so the page should reload itself. */
export function backupsPageBusy(s: BackupsStatus): boolean {
  return (
    s.activity.running !== null ||
    s.activity.queued.length > 0 ||
    s.activity.requests.some((r) => r.jobs.some((j) => j.state !== 'done'))
  );
}

/**
 * How soon the page should reload itself: null when nothing runs or waits; every second during
 * the first seconds after a button press (so a quick run's result shows almost at once), then
 * every few seconds (each reload reads the repository, which costs requests on S3).
 */
export function backupsRefreshSeconds(s: BackupsStatus): number | null {
  if (!backupsPageBusy(s)) return null;
  const now = Date.parse(s.generatedAt);
  const justPressed = s.activity.requests.some(
    (r) => r.jobs.some((j) => j.state !== 'done') && now - Date.parse(r.at) < FAST_REFRESH_WINDOW_MS,
  );
  return justPressed ? FAST_REFRESH_SECONDS : REFRESH_SECONDS;
}

/** "2026-11-26T14:31:01.123Z" → "2026-11-26 14:31:01" (the page says times are UTC). */
function utc(iso: string): string {
  return iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** A UTC time; the page's script adds the reader's local time as a tooltip. */
function time(iso: string, cls = 'ts'): SafeHtml {
  return html`<time class="${cls}" datetime="${iso}">${utc(iso)}</time>`;
}

/** Keeps "12 s" on one line. */
const nbsp = (text: string): string => text.replace(/ /g, '\u00a0');

/** A compact duration: "45 s", "12 min", "2 h 5 min", "3 d 4 h" (with no-break spaces). */
export function shortDuration(ms: number): string {
  return nbsp(compactDuration(ms));
}

function compactDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const h = Math.floor((s % 86_400) / 3600);
  return `${Math.floor(s / 86_400)} d${h ? ` ${h} h` : ''}`;
}

/** A precise duration for runs: "850 ms", "4.2 s"; a minute or more as shortDuration. */
function runDuration(ms: number): string {
  if (ms < 1000) return nbsp(`${Math.round(ms)} ms`);
  if (ms < 60_000) return nbsp(`${(ms / 1000).toFixed(1)} s`);
  return shortDuration(ms);
}

function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  return now - t < 1000 ? 'just\u00a0now' : `${shortDuration(now - t)}\u00a0ago`;
}

/** The same instant in the shop's time zone (the schedule's), e.g. "04:00 Europe/Berlin". */
function shopTime(iso: string, timezone: string): string {
  if (timezone === 'UTC' || timezone === 'Etc/UTC') return '';
  try {
    const f = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    return `${f.format(new Date(iso))} ${timezone}`;
  } catch {
    return '';
  }
}

function outcomeBadge(outcome: string): SafeHtml {
  const cls = outcome === 'success' ? 'good' : outcome === 'failed' ? 'bad' : 'warn';
  return html`<span class="badge ${cls}">${outcome}</span>`;
}

function passBadge(ok: boolean, yes = 'passed', no = 'FAILED'): SafeHtml {
  return html`<span class="badge ${ok ? 'good' : 'bad'}">${ok ? yes : no}</span>`;
}

function lastRun(r: JobRunView | null, now: number): SafeHtml {
  if (!r) return html`<span class="note">never ran</span>`;
  return html`${outcomeBadge(r.outcome)} ${time(r.startedAt)}
    <span class="note"
      >${ago(r.startedAt, now)}${r.durationMs !== undefined ? `, took ${runDuration(r.durationMs)}` : ''}${
        r.reason && r.reason !== 'schedule' ? `, ${r.reason}` : ''
      }</span
    >
    ${r.summary ? html`<div class="run-summary">${r.summary}</div>` : ''}
    ${r.error ? html`<div class="run-error">${r.error}</div>` : ''}`;
}

function banner(s: BackupsStatus): SafeHtml {
  return html`<section
    class="banner ${s.healthy ? 'ok' : 'attention'}"
    id="backup-banner"
    aria-labelledby="banner-title"
  >
    <p class="banner-title" id="banner-title">
      <span class="banner-icon" aria-hidden="true">${s.healthy ? '✓' : '!'}</span>
      ${s.healthy ? 'Healthy' : 'Needs attention'}
    </p>
    <p class="banner-summary">${s.summary}</p>
    ${
      s.warnings.length
        ? html`<ul id="warnings">
            ${s.warnings.map((w) => html`<li>${w}</li>`)}
          </ul>`
        : ''
    }
  </section>`;
}

function requestItem(r: RequestView, now: number): SafeHtml {
  const title = r.what === 'backup' ? 'Back up now' : 'Run restore test now';
  const done = r.jobs.every((j) => j.state === 'done');
  return html`<li class="request ${done ? 'done' : 'pending'}">
    <strong>${title}</strong>
    <span class="note">by ${r.actor}, ${time(r.at)} (${ago(r.at, now)})${done ? ' — done' : ''}</span>
    <ul>
      ${r.jobs.map(
        (j) =>
          html`<li data-job="${j.name}" data-state="${j.state}">
            <span class="job-name">${j.name}</span>:
            ${
              j.state === 'done' && j.run
                ? html`${outcomeBadge(j.run.outcome)}
                  ${j.run.durationMs !== undefined ? html`<span class="note">in ${runDuration(j.run.durationMs)}</span>` : ''}
                  ${j.run.summary ? html`<div class="run-summary">${j.run.summary}</div>` : ''}
                  ${j.run.error ? html`<div class="run-error">${j.run.error}</div>` : ''}`
                : j.state === 'running'
                  ? html`<span class="badge run">running…</span>`
                  : html`<span class="badge idle">waiting its turn</span>`
            }
          </li>`,
      )}
    </ul>
  </li>`;
}

function activity(s: BackupsStatus, now: number, refresh: number | null): SafeHtml | string {
  const busy = refresh !== null;
  const a = s.activity;
  if (!a.running && a.queued.length === 0 && a.requests.length === 0) return '';
  return html`<section class="activity${busy ? ' busy' : ''}" id="activity" aria-labelledby="activity-title">
    <h2 id="activity-title">${busy ? 'Working' : 'Recent requests'}</h2>
    ${
      a.running
        ? html`<p id="running">
            <span class="spinner" aria-hidden="true"></span>
            Running now: <strong>${a.running.name}</strong>
            <span class="note"
              >(${REASON_LABEL[a.running.reason] ?? a.running.reason}), started ${time(a.running.startedAt)},
              ${ago(a.running.startedAt, now)}</span
            >
          </p>`
        : ''
    }
    ${
      a.queued.length
        ? html`<p id="queued">
            Waiting their turn: ${a.queued.map((q, i) => html`${i ? ', ' : ''}<strong>${q}</strong>`)}
          </p>`
        : ''
    }
    ${
      a.requests.length
        ? html`<ul class="requests" id="requests">
            ${a.requests.map((r) => requestItem(r, now))}
          </ul>`
        : ''
    }
    ${
      busy
        ? html`<p class="note" id="auto-reload">
            This page reloads itself every ${refresh === 1 ? 'second' : `${refresh} seconds`} until the work
            is done.
            <a href="${href('/backups', pointParams(s))}">Reload now</a>
          </p>`
        : ''
    }
  </section>`;
}

function buttons(csrfToken: string, busy: boolean): SafeHtml {
  return html`<section class="buttons" aria-label="Actions">
    <form method="post" action="/backups/backup-now">
      <input type="hidden" name="_csrf" value="${csrfToken}" />
      <button type="submit" id="backup-now">Back up now</button>
    </form>
    <form method="post" action="/backups/restore-test-now">
      <input type="hidden" name="_csrf" value="${csrfToken}" />
      <button type="submit" id="restore-test-now" class="secondary">Run restore test now</button>
    </form>
    <p class="note">
      <strong>Back up now</strong> takes a point of the database, of the log store (when it is a SQLite file)
      and of the file sets. <strong>Run restore test now</strong> restores the newest points into a scratch
      folder, checks them, and deletes the copy; the shop is not touched. Both wait their turn on the
      scheduler${busy ? ' (a job is running now)' : ''}.
    </p>
  </section>`;
}

function cards(s: BackupsStatus, now: number): SafeHtml {
  const exposure = s.rpo.exposureMs;
  const test = s.restoreTests[0];
  const drill = s.drills[0];
  const c = s.repository.counts;
  return html`<section class="cards" aria-label="Objectives and repository">
    <div class="card ${s.rpo.ok ? 'good' : 'bad'}" id="rpo">
      <h2>Data at risk now (RPO)</h2>
      <p class="figure">${exposure === null ? 'no backup yet' : shortDuration(exposure)}</p>
      <p class="note">
        Orders written since the newest database point; objective
        <strong>${shortDuration(s.rpo.objectiveMs)}</strong> —
        ${exposure === null ? 'not met' : s.rpo.ok ? 'within it' : 'exceeded'}.
      </p>
      ${
        exposure !== null
          ? html`<meter
              min="0"
              max="${s.rpo.objectiveMs}"
              low="${Math.round(s.rpo.objectiveMs * 0.75)}"
              high="${Math.round(s.rpo.objectiveMs * 0.95)}"
              optimum="0"
              value="${Math.min(exposure, s.rpo.objectiveMs)}"
              aria-label="Share of the RPO objective used"
            >
              ${Math.round((100 * exposure) / s.rpo.objectiveMs)}%
            </meter>`
          : ''
      }
    </div>
    <div class="card ${drill ? (drill.ok ? 'good' : 'bad') : ''}" id="rto">
      <h2>Recovery time (RTO)</h2>
      <p class="figure">
        ${drill?.rtoMs != null ? runDuration(drill.rtoMs) : `${shortDuration(s.rtoObjectiveMs)} objective`}
      </p>
      <p class="note">
        ${
          drill
            ? html`Measured by the last drill (${ago(drill.time, now)}); objective
                <strong>${shortDuration(s.rtoObjectiveMs)}</strong> — ${drill.rtoPass ? 'met' : 'NOT met'}.`
            : html`No drill has measured it yet: run <code>safetynet drill</code>.`
        }
      </p>
    </div>
    <div class="card ${test ? (test.ok ? 'good' : 'bad') : 'bad'}" id="last-test">
      <h2>Last restore test</h2>
      <p class="figure">${test ? (test.ok ? 'Passed' : 'FAILED') : 'none yet'}</p>
      <p class="note">
        ${
          test
            ? html`${ago(test.time, now)}, ${test.checks.length}
              checks${test.failed ? html` — failed: ${test.failed}` : ''}`
            : 'Press “Run restore test now”.'
        }
      </p>
    </div>
    ${readVerifyCard(s, now)}
    <div class="card ${s.repository.reachable ? '' : 'bad'}" id="repository">
      <h2>Repository</h2>
      <p class="figure">${s.repository.reachable ? formatBytes(s.repository.storedBytes) : 'unreachable'}</p>
      <p class="note">
        ${c.total} restore point${c.total === 1 ? '' : 's'}: ${c.full} full, ${c.incremental} incremental,
        ${c.files} files
      </p>
      <p class="repo-url"><code>${s.repository.url}</code></p>
    </div>
  </section>`;
}

/** How far the rotating read-verify got in re-reading every stored object. */
function readVerifyCard(s: BackupsStatus, now: number): SafeHtml {
  const v = s.readVerify;
  if (!v) return html``;
  const bad = v.last !== null && !v.last.ok;
  return html`<div class="card ${bad ? 'bad' : v.last ? 'good' : ''}" id="read-verify">
    <h2>Old points re-read</h2>
    <p class="figure">${v.slicesDone} / ${v.count} slices</p>
    <p class="note">
      ${
        v.last
          ? html`Last slice (${v.last.slice}/${v.count}, ${v.last.objects} objects) ${ago(v.last.time, now)}:
            ${v.last.ok ? 'intact' : html`<strong>damage found</strong> — run <code>safetynet verify --read-data</code>`}.
            ${v.slicesDone === v.count && v.coveredSince ? html`Every object re-read since ${v.coveredSince.slice(0, 10)}.` : ''}`
          : 'The read-verify job has not run yet; it re-reads one slice of the repository per run.'
      }
    </p>
  </div>`;
}

function size(p: PointView): SafeHtml {
  return html`${formatBytes(p.sizeBytes)} <span class="note">(${formatBytes(p.storedBytes)} stored)</span>`;
}

function lastBackups(s: BackupsStatus, now: number): SafeHtml {
  return html`<h2>Last backups <span class="note">(UTC)</span></h2>
    <table class="grid" id="last-backups">
      <thead>
        <tr>
          <th scope="col">Kind</th>
          <th scope="col">Newest point</th>
          <th scope="col">Size</th>
          <th scope="col">Last run of its job</th>
        </tr>
      </thead>
      <tbody>
        ${s.last.map(
          (l) =>
            html`<tr data-kind="${l.kind}">
              <th scope="row" data-label="Kind">${KIND_LABEL[l.kind] ?? l.kind}</th>
              <td data-label="Newest point">
                ${
                  l.point
                    ? html`${time(l.point.time)} <span class="note">${ago(l.point.time, now)}</span>${
                          l.point.incomplete ? html` <span class="badge bad">incomplete</span>` : ''
                        }`
                    : html`<span class="note">none yet</span>`
                }
              </td>
              <td data-label="Size">${l.point ? size(l.point) : ''}</td>
              <td data-label="Last run">${lastRun(l.lastRun, now)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function nextRun(j: JobView, s: BackupsStatus): SafeHtml {
  if (j.running) return html`<span class="badge run">running now</span>`;
  if (!j.nextRun) return html`<span class="note">not planned</span>`;
  const local = shopTime(j.nextRun, s.timezone);
  const due = Date.parse(j.nextRun) <= Date.parse(s.generatedAt);
  return html`${due ? html`<span class="badge idle">waiting its turn</span>` : time(j.nextRun)}
  ${local && !due ? html`<span class="note">${local}</span>` : ''}
  ${j.nextReason && j.nextReason !== 'schedule' ? html`<span class="note">(${j.nextReason === 'manual' ? 'requested' : j.nextReason})</span>` : ''}`;
}

function schedule(s: BackupsStatus, now: number): SafeHtml {
  return html`<h2>Schedule <span class="note">(cron in ${s.timezone}; times UTC)</span></h2>
    <table class="grid" id="jobs">
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">Schedule</th>
          <th scope="col">Next run</th>
          <th scope="col">Last run</th>
        </tr>
      </thead>
      <tbody>
        ${s.jobs.map(
          (j) =>
            html`<tr data-job="${j.name}">
              <th scope="row" data-label="Job">${j.name}</th>
              <td data-label="Schedule"><code>${j.cron}</code></td>
              <td data-label="Next run">${nextRun(j, s)}</td>
              <td data-label="Last run">
                ${lastRun(j.lastRun, now)}
                ${
                  j.consecutiveFailures > 1
                    ? html`<div class="run-error">${j.consecutiveFailures} failures in a row</div>`
                    : ''
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function pointParams(s: BackupsStatus): Record<string, string | undefined> {
  return { kind: s.points.query.kind, before: s.points.query.before };
}

function restorePoints(s: BackupsStatus, errors: BackupsQueryError[], now: number): SafeHtml {
  const q = s.points.query;
  const counts = s.repository.counts;
  const tab = (kind: string | undefined, label: string, n: number) =>
    html`<a href="${href('/backups', { kind })}#points" ${q.kind === kind ? html`aria-current="page"` : ''}
      >${label} <span class="count">${n}</span></a
    >`;
  return html`<h2 id="points">Restore points <span class="note">(newest first, UTC)</span></h2>
    <nav class="tabs" aria-label="Kinds of restore point">
      ${tab(undefined, 'All', counts.total)} ${POINT_KINDS.map((k) => tab(k, k, counts[k]))}
    </nav>
    ${
      errors.length
        ? html`<div class="errors" role="alert" id="points-errors">
            <ul>
              ${errors.map((e) => html`<li>${e.message}</li>`)}
            </ul>
          </div>`
        : ''
    }
    ${
      s.points.items.length
        ? html`<table class="grid" id="restore-points">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Kind</th>
                <th scope="col">Size</th>
                <th scope="col">Point id</th>
              </tr>
            </thead>
            <tbody>
              ${s.points.items.map(
                (p) =>
                  html`<tr data-point="${p.id}">
                    <td data-label="Time">${time(p.time)} <span class="note">${ago(p.time, now)}</span></td>
                    <td data-label="Kind">
                      <span class="kind kind-${p.kind}">${p.kind}</span>${
                        p.incomplete ? html` <span class="badge bad">incomplete</span>` : ''
                      }
                    </td>
                    <td data-label="Size">${size(p)}</td>
                    <td data-label="Point id"><code>${p.id}</code></td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p id="no-points">
            ${q.before ? 'No older restore points.' : `No ${q.kind ? `${q.kind} ` : ''}restore points yet.`}
          </p>`
    }
    <nav class="pager" aria-label="Pages of restore points">
      ${q.before ? html`<a href="${href('/backups', { kind: q.kind })}#points" id="points-newest">← Newest</a>` : ''}
      ${
        s.points.olderCursor
          ? html`<a
              href="${href('/backups', { kind: q.kind, before: s.points.olderCursor })}#points"
              id="points-older"
              rel="next"
              >Older →</a
            >`
          : ''
      }
      <span class="note"
        >${s.points.total} ${q.kind ?? ''} point${s.points.total === 1 ? '' : 's'} in all</span
      >
    </nav>`;
}

function checkTable(checks: CheckView[], timed: boolean): SafeHtml {
  return html`<table class="checks">
    <thead>
      <tr>
        <th scope="col">Result</th>
        <th scope="col">Check</th>
        ${timed ? html`<th scope="col">Time</th>` : ''}
        <th scope="col">Detail</th>
      </tr>
    </thead>
    <tbody>
      ${checks.map(
        (c) =>
          html`<tr class="${c.ok ? 'pass' : 'fail'}">
            <td data-label="Result">${passBadge(c.ok, 'pass', 'FAIL')}</td>
            <td data-label="Check">${c.name}</td>
            ${timed ? html`<td data-label="Time" class="nowrap">${c.ms !== undefined ? runDuration(c.ms) : ''}</td>` : ''}
            <td data-label="Detail" class="detail">${c.detail}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function restoreTestItem(t: RestoreTestView, now: number): SafeHtml {
  return html`<li>
    <details class="run" id="test-${t.id}">
      <summary>
        ${passBadge(t.ok)} ${time(t.time)} <span class="note">${ago(t.time, now)}</span>
        <span class="run-facts"
          >${t.checks.length}
          checks${t.durationMs !== null ? `, ${runDuration(t.durationMs)}` : ''}${
            t.failed ? html` — failed: <strong>${t.failed}</strong>` : ''
          }</span
        >
      </summary>
      <div class="run-body">
        <dl>
          <dt>Database point</dt>
          <dd>
            ${t.point ? html`<code>${t.point.id}</code> (${t.point.kind}, ${utc(t.point.time)})` : 'none'}
          </dd>
          <dt>Files point</dt>
          <dd>
            ${t.filesPoint ? html`<code>${t.filesPoint.id}</code> (${utc(t.filesPoint.time)})` : 'none'}
          </dd>
          <dt>Record</dt>
          <dd><code>${t.id}</code></dd>
        </dl>
        ${checkTable(t.checks, false)}
      </div>
    </details>
  </li>`;
}

function drillItem(d: DrillView, now: number): SafeHtml {
  const vs = (achieved: number | null, objective: number | null, pass: boolean) =>
    html`${achieved !== null ? runDuration(achieved) : 'n/a'}${
      objective !== null ? html` <span class="note">of ${shortDuration(objective)}</span>` : ''
    }
    ${passBadge(pass, 'met', 'NOT met')}`;
  return html`<li>
    <details class="run" id="drill-${d.id}">
      <summary>
        ${passBadge(d.ok)} ${time(d.time)} <span class="note">${ago(d.time, now)}</span>
        <span class="run-facts"
          >RTO ${d.rtoMs !== null ? runDuration(d.rtoMs) : 'n/a'}, RPO
          ${d.rpoMs !== null ? runDuration(d.rpoMs) : 'n/a'}</span
        >
      </summary>
      <div class="run-body">
        <dl>
          <dt>Recovery time</dt>
          <dd>${vs(d.rtoMs, d.objectives.rtoMs, d.rtoPass)}</dd>
          <dt>Recovery point</dt>
          <dd>${vs(d.rpoMs, d.objectives.rpoMs, d.rpoPass)}</dd>
          <dt>Record</dt>
          <dd><code>${d.id}</code></dd>
        </dl>
        ${checkTable(d.steps, true)}
      </div>
    </details>
  </li>`;
}

function history(s: BackupsStatus, now: number): SafeHtml {
  return html`<h2 id="restore-tests-title">Restore tests</h2>
    ${
      s.restoreTests.length
        ? html`<ul class="history" id="restore-tests" aria-labelledby="restore-tests-title">
              ${s.restoreTests.map((t) => restoreTestItem(t, now))}
            </ul>
            ${
              s.restoreTestsTotal > s.restoreTests.length
                ? html`<p class="note">The newest ${s.restoreTests.length} of ${s.restoreTestsTotal}.</p>`
                : ''
            }`
        : html`<p class="note" id="no-restore-tests">No restore test has run yet.</p>`
    }
    <h2 id="drills-title">Disaster-recovery drills</h2>
    ${
      s.drills.length
        ? html`<ul class="history" id="drills" aria-labelledby="drills-title">
              ${s.drills.map((d) => drillItem(d, now))}
            </ul>
            ${
              s.drillsTotal > s.drills.length
                ? html`<p class="note">The newest ${s.drills.length} of ${s.drillsTotal}.</p>`
                : ''
            }`
        : html`<p class="note" id="no-drills">
            No drill yet. A drill recovers everything into a scratch folder, as if this machine were lost, and
            measures the real recovery time and point: <code>safetynet drill --out drill-report.md</code>.
          </p>`
    }`;
}

/** The commands of the runbook's "recover with safetynet" section, for the Restoring box. */
const RESTORE_COMMANDS: readonly (readonly [string, string])[] = [
  ['safetynet backups list', 'the restore points, newest last'],
  [
    'safetynet restore db --to data/shop.sqlite',
    'the newest database point, checked before it is moved into place',
  ],
  [
    'safetynet restore db --to data/shop.sqlite --at 2026-11-26T09:55:00Z',
    'the database as it was just before an accident (UTC)',
  ],
  ['safetynet restore files --to data/', 'every file set: invoices, images, config'],
  ['safetynet drill --out drill-report.md', 'a timed rehearsal of the whole recovery, into a scratch folder'],
];

function restoreHelp(): SafeHtml {
  return html`<section class="restore-help" id="restore-help" aria-labelledby="restore-help-title">
    <h2 id="restore-help-title">Restoring</h2>
    <p>
      <strong>Restores are not started from the browser.</strong> Bringing data back replaces what the shop
      runs on, so it is deliberate work at the command line, on the server, with the shop stopped, following
      the
      <a href="/backups/runbook" id="runbook-link">disaster-recovery runbook</a>
      (<code>docs/disaster-recovery.md</code> in the safetynet package).
    </p>
    <dl class="commands">
      ${RESTORE_COMMANDS.map(
        ([command, what]) =>
          html`<dt><code>${command}</code></dt>
            <dd>${what}</dd>`,
      )}
    </dl>
  </section>`;
}

/** The runbook, as the text file it is (Markdown reads well as plain text), for the bad day. */
export function runbookPage(text: string, file: string): SafeHtml {
  return html`<div class="page-head">
      <h1>Disaster-recovery runbook</h1>
      <span class="note"><a href="/backups">← Backups</a> · <code>${file}</code></span>
    </div>
    <pre class="wrap runbook" id="runbook">${text}</pre>`;
}

export interface BackupsPageView {
  csrfToken: string;
  /** Problems with the query string (the points then show the newest). */
  errors?: BackupsQueryError[];
}

/** The page body. */
export function backupsPage(s: BackupsStatus, v: BackupsPageView): SafeHtml {
  const now = Date.parse(s.generatedAt);
  const refresh = backupsRefreshSeconds(s);
  return html`<div class="page-head">
      <h1>Backups</h1>
      <span class="note">As of ${time(s.generatedAt)} UTC</span>
    </div>
    ${banner(s)} ${activity(s, now, refresh)} ${buttons(v.csrfToken, refresh !== null)} ${cards(s, now)}
    ${lastBackups(s, now)} ${schedule(s, now)} ${restorePoints(s, v.errors ?? [], now)} ${history(s, now)}
    ${restoreHelp()}`;
}
