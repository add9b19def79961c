/** Stopping long work when serve shuts down (SIGTERM): one error for every job. */
import { SafetynetError } from '../errors.js';

/** Throws E_ABORTED when `signal` fired. `what` completes "the … was stopped before it finished". */
export function throwIfStopped(signal: AbortSignal | undefined, what: string, outcome: string): void {
  if (!signal?.aborted) return;
  throw stoppedError(what, outcome);
}

/** The E_ABORTED error for `what` (e.g. "files backup") and what that left (e.g. "no restore point was created"). */
export function stoppedError(what: string, outcome: string): SafetynetError {
  return new SafetynetError('E_ABORTED', `the ${what} was stopped before it finished; ${outcome}`, {
    hint: 'it runs again at its next scheduled time, or run it by hand',
  });
}
