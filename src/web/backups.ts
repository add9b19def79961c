/**
 * The Backups page's data source, supplied by the backup/scheduler layer (issue 5's status
 * report). The panel only renders what it is given and forwards the two buttons; it never starts
 * a restore (restores are deliberate CLI work).
 *
 * PLACEHOLDER (issue 6, to be filled by the lead): `BackupsStatus` below is what this page
 * expects to render; map the real StatusReport onto it in the provider, or replace the shape and
 * `views/backups.ts` together. The routes (GET /backups, POST /backups/backup-now,
 * POST /backups/restore-test-now) with login, CSRF and audit are in place and tested.
 */

/** The result of a button press, shown to the user on the next page. */
export interface BackupActionResult {
  ok: boolean;
  /** One sentence for a person, e.g. "Backup started; it appears below when done." */
  message: string;
}

export interface BackupRunView {
  /** e.g. "full", "incremental", "files", "restore test". */
  kind: string;
  /** ISO UTC, or null when it never ran. */
  at: string | null;
  ok: boolean;
  detail?: string;
}

/** What the Backups page shows. */
export interface BackupsStatus {
  /** The banner: true = healthy, false = needs attention. */
  healthy: boolean;
  /** One line under the banner. */
  summary: string;
  warnings: string[];
  /** RPO exposure: time since the newest restorable point versus the objective. */
  rpo?: { objectiveMs: number; exposureMs: number | null };
  lastRuns: BackupRunView[];
  nextRuns: { kind: string; at: string }[];
  /** Newest first; the page shows what it is given (the provider pages). */
  restorePoints: { id: string; time: string; kind: string; sizeBytes?: number }[];
  restoreTests: BackupRunView[];
}

export interface BackupsPageProvider {
  status(): Promise<BackupsStatus>;
  /** Starts (or runs) a backup now; `actor` is the admin user who asked, for the audit trail. */
  backupNow(actor: string): Promise<BackupActionResult>;
  /** Starts (or runs) a restore test now. */
  restoreTestNow(actor: string): Promise<BackupActionResult>;
}
