/**
 * Where the panel keeps sessions and login throttle counters: in PostgreSQL when the log store is
 * PostgreSQL (several panel instances then share them), else in the SQLite file next to the admin
 * users file. Either way a restart keeps logins and lockouts.
 */
import type { Clock } from '../../clock.js';
import type { SafetynetConfig } from '../../config/types.js';
import { SqliteSessionStore, defaultSessionFile, type SessionStore } from './sessions.js';
import { SqliteCounterStore, StoredThrottle } from './shared-state.js';
import { PgAuthState, PgCounterStore, PgSessionStore } from './pg-state.js';
import type { Throttle, ThrottleOptions } from './throttle.js';

export interface AdminState {
  sessions: SessionStore;
  throttle: Throttle;
  close(): Promise<void>;
}

/** Opens the configured store pair (the one place that knows which backends exist). */
export function openAdminState(
  config: SafetynetConfig,
  clock: Clock,
  throttle?: ThrottleOptions,
): AdminState {
  const pgUrl = config.logs.store.type === 'postgres' ? config.logs.store.connectionString : undefined;
  if (pgUrl) {
    const state = new PgAuthState(pgUrl);
    return {
      sessions: new PgSessionStore(state),
      throttle: new StoredThrottle(new PgCounterStore(state), clock, throttle),
      close: () => state.close(),
    };
  }
  const file = defaultSessionFile(config.admin.users);
  const sessions = new SqliteSessionStore(file);
  const counters = new SqliteCounterStore(file);
  return {
    sessions,
    throttle: new StoredThrottle(counters, clock, throttle),
    close: async () => {
      sessions.close();
      counters.close();
    },
  };
}
