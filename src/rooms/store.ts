import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { StartError } from '../start-error.js';
import { LocalLease, SCHEMA_VERSION, SchemaTooNewError, type Lease } from '../storage/index.js';
import { DatabaseProbe, PostgresLease, StoreConnectionError, checkConnection, migratePostgres, openPool, redactText, redactUrl, type Pool } from '../storage/postgres/index.js';

/** The lease the timed work of an instance runs under. */
export const TIMED_WORK_LEASE = 'timed-work';

/** The store's part of /readyz. */
export interface StoreReadiness {
  ready: boolean;
  /** `postgres: ok | unreachable` with a store.url; nothing on SQLite (the telemetry room's file is `store`) */
  checks: Record<string, string>;
  /** this instance's id, as a lease holder is named */
  instance: string;
  lease: { name: string; holder: string | null; this_instance: boolean };
}

/** Where the shared state lives (store.url) and the lease for timed work. */
export interface StoreRoom extends Room {
  /** held from start to stop on SQLite; on PostgreSQL by one instance of those sharing the database */
  lease: Lease;
  /** the PostgreSQL pool once started with a store.url, else null */
  pool(): Pool | null;
  /** from what is known already (the last probe of the database): never waits */
  readiness(): StoreReadiness;
}

/** How often /readyz's view of PostgreSQL is refreshed, and how long a probe may take before it counts as down. */
const PROBE_EVERY_MS = 2_000;
const PROBE_TIMEOUT_MS = 2_000;

/**
 * The store's room, first to start and last to stop. With store.url empty the state is in SQLite under data_dir
 * (the telemetry room opens it) and the lease is this instance's alone. With a postgres:// URL it connects, brings the
 * database to this release's schema and takes part in the PostgreSQL lease; every store keeps its rows there.
 */
export function storeRoom(deps: { config: Config; log: Logger; metrics: Pick<Metrics, 'leaseHeld' | 'leaseChanges'>; clock: Clock }): StoreRoom {
  const { config, metrics, clock } = deps;
  const url = config.store.url;
  const log = deps.log.child({ module: 'store' });
  // unique even for two instances in one process (tests, the city twin)
  const id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const leaseOf = (lease: Lease): StoreReadiness['lease'] => ({ name: lease.name, holder: lease.holder(), this_instance: lease.holds() });
  if (url === '') {
    const lease = new LocalLease(TIMED_WORK_LEASE, id, metrics);
    return {
      name: 'store',
      lease,
      pool: () => null,
      readiness: () => ({ ready: true, checks: {}, instance: id, lease: leaseOf(lease) }),
      start: () => lease.start(),
      stop: () => lease.stop(),
    };
  }
  const where = redactUrl(url);
  // made now, connected at start: the rooms hold this lease from their construction (pg connects on first use)
  const pool = openPool({ url, applicationName: `binbridge ${id}` }, (err) => log.warn({ err, url: where }, 'idle PostgreSQL connection failed'));
  const lease = new PostgresLease({ pool, name: TIMED_WORK_LEASE, id, clock, log, metrics });
  let started = false;
  let probe: DatabaseProbe | null = null;
  return {
    name: 'store',
    lease,
    pool: () => (started ? pool : null),
    readiness() {
      const postgres = probe?.state ?? 'unreachable';
      return { ready: postgres === 'ok', checks: { postgres }, instance: id, lease: leaseOf(lease) };
    },
    async start() {
      const server = await checkConnection(pool, url).catch((err: unknown) => {
        throw err instanceof StoreConnectionError ? new StartError(err.message, { cause: err }) : err;
      });
      const applied = await migratePostgres(pool, undefined, clock).catch((err: unknown) => {
        const message = redactText(err instanceof Error ? err.message : String(err), url);
        throw err instanceof SchemaTooNewError ? new StartError(`PostgreSQL at ${where}: ${message}`, { cause: err }) : new Error(`PostgreSQL at ${where}: ${message}`, { cause: err });
      });
      log.info({ url: where, server, applied, version: SCHEMA_VERSION }, 'PostgreSQL store ready');
      started = true;
      await lease.start();
      probe = new DatabaseProbe({ pool, url, clock, log, everyMs: PROBE_EVERY_MS, timeoutMs: PROBE_TIMEOUT_MS });
      probe.start();
    },
    async stop() {
      await probe?.stop();
      if (started) await lease.stop();
      started = false;
      if (!pool.ended) await pool.end();
    },
  };
}
