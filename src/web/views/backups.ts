/**
 * The Backups page. PLACEHOLDER rendering of `BackupsStatus` (see ../backups.ts): the lead
 * replaces or extends it when the status report (issue 5) lands.
 */
import { formatDuration } from '../../util/time.js';
import type { BackupRunView, BackupsStatus } from '../backups.js';
import { html, type SafeHtml } from '../html.js';
import { displayTime } from './entry.js';

function runRows(runs: BackupRunView[]): SafeHtml {
  return html`${runs.map(
    (r) =>
      html`<tr>
        <td>${r.kind}</td>
        <td>${r.at ? displayTime(r.at) : 'never'}</td>
        <td>${r.ok ? 'ok' : 'FAILED'}</td>
        <td>${r.detail ?? ''}</td>
      </tr>`,
  )}`;
}

export function backupsPage(s: BackupsStatus, csrfToken: string): SafeHtml {
  return html`<h1>Backups</h1>
    <p class="banner ${s.healthy ? 'ok' : 'attention'}" id="backup-banner">
      ${s.healthy ? 'Healthy' : 'Needs attention'} — ${s.summary}
    </p>
    ${
      s.warnings.length
        ? html`<ul class="errors">
            ${s.warnings.map((w) => html`<li>${w}</li>`)}
          </ul>`
        : ''
    }
    ${
      s.rpo
        ? html`<p>
            Data at risk now:
            <strong>${s.rpo.exposureMs === null ? 'unknown' : formatDuration(s.rpo.exposureMs)}</strong>
            (objective ${formatDuration(s.rpo.objectiveMs)}).
          </p>`
        : ''
    }
    <div class="actions">
      <form method="post" action="/backups/backup-now">
        <input type="hidden" name="_csrf" value="${csrfToken}" />
        <button type="submit" id="backup-now">Back up now</button>
      </form>
      <form method="post" action="/backups/restore-test-now">
        <input type="hidden" name="_csrf" value="${csrfToken}" />
        <button type="submit" id="restore-test-now">Run restore test now</button>
      </form>
    </div>
    <h2>Last runs <span class="note">(UTC)</span></h2>
    <table class="plain">
      <tbody>
        ${runRows(s.lastRuns)}
      </tbody>
    </table>
    <h2>Next runs</h2>
    <ul>
      ${s.nextRuns.map((n) => html`<li>${n.kind}: ${displayTime(n.at)}</li>`)}
    </ul>
    <h2>Restore points</h2>
    <table class="plain" id="restore-points">
      <tbody>
        ${s.restorePoints.map(
          (p) =>
            html`<tr>
              <td>${displayTime(p.time)}</td>
              <td>${p.kind}</td>
              <td><code>${p.id}</code></td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Restore tests</h2>
    <table class="plain">
      <tbody>
        ${runRows(s.restoreTests)}
      </tbody>
    </table>
    <p class="note">
      Restores are run from the command line (see the disaster-recovery runbook), never from the browser.
    </p>`;
}
