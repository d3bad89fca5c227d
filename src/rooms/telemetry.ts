import type { Clock, Timer } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Subscriber } from '../events.js';
import type { StopCause, Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { PostgresBinRegistry, PostgresZonesAndCrews, SqliteBinRegistry, SqliteZonesAndCrews, knownFromConfig, zonesOfBins, type BinRegistry, type ZonesAndCrews } from '../registry/index.js';
import {
  InfluxWriter,
  SqliteBinStateStore,
  SqliteReadingHistory,
  SqliteReadingJournal,
  SqliteSpool,
  WorkerReadingJournal,
  createSink,
  openDatabase,
  recordTelemetry,
  type BinStateStore,
  type Db,
  type JournalPace,
  type ReadingHistory,
  type ReadingJournal,
  type Spool,
  type SpoolWriter,
  type TelemetryEvents,
} from '../storage/index.js';
import type { StoreRoom } from './store.js';
import { PostgresBinStateStore, PostgresReadingHistory, PostgresReadingJournal, PostgresSpool, type Pool } from '../storage/postgres/index.js';

/** The store and what keeps readings: the database, the bins, their state and history, the journal, the spool and the InfluxDB writer. */
export interface TelemetryRoom extends Room {
  db: Db;
  registry: BinRegistry;
  /** zones and crews */
  zonesAndCrews: ZonesAndCrews;
  binState: BinStateStore;
  history: ReadingHistory;
  journal: ReadingJournal;
  /** null while InfluxDB is off (no influx.url) */
  spool: Spool | null;
  writer: SpoolWriter | null;
}

/** InfluxDB's last chance at shutdown; after a failed start the points stay spooled for the next start. */
const LAST_CHANCE_MS = 5000;

/**
 * How often an instance on PostgreSQL looks whether another changed the bins, zones or crews: one indexed read of a
 * counter per look (a few ms at most), and a change is known everywhere within this and a read of the changed rows.
 */
export const REGISTRY_POLL_MS = 1000;

/**
 * Opens the database and builds the telemetry room on it. A bins file that is refused closes the database again
 * before the error goes up (no room holds it yet). Started first and stopped last: its stop commits what the
 * journal holds, gives InfluxDB its last chance, closes the database and says how many points wait.
 */
export function telemetryRoom(deps: {
  config: Config;
  log: Logger;
  metrics: Metrics;
  events: Subscriber<TelemetryEvents>;
  clock: Clock;
  /** with a store.url, the bins, zones and crews live in its PostgreSQL (the pool is there once the store room started) */
  store: Pick<StoreRoom, 'pool'>;
}): TelemetryRoom {
  const db = openDatabase(deps.config.data_dir, { sync: deps.config.spool.sync });
  try {
    return build(db, deps);
  } catch (err) {
    db.close();
    throw err;
  }
}

function build(db: Db, { config, log, metrics, events, clock, store }: Parameters<typeof telemetryRoom>[0]): TelemetryRoom {
  const shared = config.store.url !== '' ? { registry: new PostgresBinRegistry(() => store.pool()), zonesAndCrews: new PostgresZonesAndCrews(() => store.pool()) } : null;
  const local = shared ? null : { registry: new SqliteBinRegistry(db), zonesAndCrews: new SqliteZonesAndCrews(db) };
  const registry: BinRegistry = shared?.registry ?? local!.registry;
  const zonesAndCrews: ZonesAndCrews = shared?.zonesAndCrews ?? local!.zonesAndCrews;
  // no zones in the config: the bins file's zones are the zones
  const configZones = () => (config.zones.length > 0 ? config.zones : zonesOfBins(registry.all()));
  const loaded = (imported: number | null): void => log.info({ module: 'registry', file: config.registry.bins_file, bins: registry.size, imported: imported !== null }, 'registry loaded');
  const seeded = (zones: number): void =>
    log.info({ module: 'registry', zones, crews: config.crews.length, zones_from: config.zones.length > 0 ? 'config' : 'bins file' }, 'zones and crews taken from the config');
  if (local) {
    // on SQLite before the rooms after this one are built on them, as they always were
    loaded(local.registry.importFileIfChangedNow(config.registry.bins_file, knownFromConfig(config)));
    const zones = configZones();
    if (local.zonesAndCrews.seedFromConfigNow(zones, config.crews)) seeded(zones.length);
  }
  const registryLog = log.child({ module: 'registry' });
  let poll: Timer | null = null;
  let failing = false;
  const look = async (): Promise<void> => {
    try {
      await Promise.all([shared!.registry.refresh(), shared!.zonesAndCrews.refresh()]);
      if (failing) registryLog.info({ event: 'registry_refresh_ok' }, 'bins, zones and crews read from PostgreSQL again');
      failing = false;
    } catch (err) {
      // said once per outage: the last bins known keep serving the readings meanwhile
      if (!failing) registryLog.warn({ err, event: 'registry_refresh_failed' }, 'could not look for changed bins, zones or crews in PostgreSQL; keeping the last ones read');
      failing = true;
    }
  };

  const readings = config.store.url !== '' ? onPostgres(() => store.pool(), { config, metrics, log, clock }) : null;
  const binState = readings?.binState ?? new SqliteBinStateStore(db, clock);
  // each bin's 15-minute history for 35 days, written with the reading (the live page's chart, with or without InfluxDB)
  const history = readings?.history ?? new SqliteReadingHistory(db, clock, log.child({ module: 'history' }));
  const { journal, spool, writer, worker } = readings ?? (config.spool.journal === 'worker' ? inWorker(config, metrics, log, clock) : inline(db, binState, history, { config, metrics, log, clock }));

  if (spool && writer) {
    journal.onCommitted(() => writer.notify());
    // rule events, job changes and WhatsApp counts go to InfluxDB through the same durable spool as readings
    recordTelemetry(events, (lines) => {
      if (lines.length > 0) spool.appendSoon(lines, () => writer.notify());
    });
  } else {
    log.warn({ module: 'influx' }, 'influx writer off (no influx.url): readings are validated and kept as bin state, not stored in InfluxDB');
  }

  return {
    name: 'telemetry',
    db,
    registry,
    zonesAndCrews,
    binState,
    history,
    journal,
    spool,
    writer,
    async start() {
      if (shared) {
        // the store room has started: its pool is there; everything is read before the readings come in
        await shared.registry.load();
        loaded(await shared.registry.importFileIfChanged(config.registry.bins_file, knownFromConfig(config)));
        await shared.zonesAndCrews.load();
        const zones = configZones();
        if (await shared.zonesAndCrews.seedFromConfig(zones, config.crews)) seeded(zones.length);
        poll = clock.setInterval(() => void look(), REGISTRY_POLL_MS).unref();
      }
      await readings?.start();
      await worker?.start();
      writer?.start();
      history.start();
      if (spool) log.info({ module: 'influx', url: config.influx.url, api: config.influx.api, journal: readings ? 'postgres' : config.spool.journal, spooled: spool.stats().depth }, 'influx writer on');
    },
    async stop(cause: StopCause) {
      poll?.clear();
      poll = null;
      await journal.flush();
      history.stop();
      // event points of the last turn (the outbox's final statuses) join the spool before the writer's last pass
      await spool?.flushSoon();
      await writer?.stop(cause === 'shutdown' ? LAST_CHANCE_MS : 0);
      // before the store room ends the pool: claims still open are given back, statuses written
      await readings?.stop();
      // the worker's connection closes before this one: it wrote last
      await worker?.close();
      if (!db.open) return;
      const left = spool?.stats().depth ?? 0;
      db.close();
      if (cause === 'shutdown') log.info({ spooled: left }, left > 0 ? 'stopped; spooled points will be written at the next start' : 'stopped');
    },
  };
}

interface Journal {
  journal: ReadingJournal;
  spool: Spool | null;
  writer: SpoolWriter | null;
  worker: WorkerReadingJournal | null;
}

/** How the journal paces its commits (CommitPacer). */
const journalPace = (config: Config): JournalPace => ({ delayMs: config.spool.commit_delay_ms, groupTarget: config.spool.commit_group_target });

/** spool.journal: inline — the group commit, the spool and the writer on the event loop, on the room's connection. */
function inline(db: Db, binState: BinStateStore, history: ReadingHistory, { config, metrics, log, clock }: Pick<Parameters<typeof telemetryRoom>[0], 'config' | 'metrics' | 'log' | 'clock'>): Journal {
  const spool = config.influx.url !== '' ? new SqliteSpool(db, config.spool.max_mb * 1024 * 1024, clock) : null;
  const journal = new SqliteReadingJournal(
    db,
    spool,
    binState,
    { maxBatch: config.spool.commit_max_batch, ...journalPace(config), clock },
    metrics,
    log.child({ module: 'journal' }),
    history,
  );
  if (!spool) return { journal, spool, writer: null, worker: null };
  const influxLog = log.child({ module: 'influx' });
  const writer = new InfluxWriter(spool, createSink(config.influx, influxLog), { batchSize: config.influx.batch_size, flushIntervalMs: config.influx.flush_interval_ms, clock }, metrics, influxLog);
  return { journal, spool, writer, worker: null };
}

/** spool.journal: worker — the same in a worker thread on its own connection; the room's connection serves the rest. */
function inWorker(config: Config, metrics: Metrics, log: Logger, clock: Clock): Journal {
  const worker = new WorkerReadingJournal(
    {
      dataDir: config.data_dir,
      sync: config.spool.sync,
      maxBatch: config.spool.commit_max_batch,
      ...journalPace(config),
      spoolMaxBytes: config.spool.max_mb * 1024 * 1024,
      influx: config.influx.url !== '' ? config.influx : null,
      clock,
    },
    metrics,
    log,
  );
  return { journal: worker, spool: worker.spool, writer: worker.writer, worker };
}

interface SharedJournal extends Journal {
  binState: PostgresBinStateStore;
  history: PostgresReadingHistory;
  /** loads bin state and counts the spool (after the store room connected) */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * store.url: the journal, bin state, history and spool in PostgreSQL, shared with the other instances on the database;
 * the writer claims its batches there (spool.journal does not apply). Built before the store room connects: each
 * part asks for the pool when it first needs it, after start.
 */
function onPostgres(pool: () => Pool | null, { config, metrics, log, clock }: Pick<Parameters<typeof telemetryRoom>[0], 'config' | 'metrics' | 'log' | 'clock'>): SharedJournal {
  const source = (): Pool => {
    const p = pool();
    if (!p) throw new Error('the PostgreSQL store is not connected (the store room has not started, or has stopped)');
    return p;
  };
  const influxLog = log.child({ module: 'influx' });
  const binState = new PostgresBinStateStore(source, clock, log.child({ module: 'bin-state' }));
  const history = new PostgresReadingHistory(source, clock, log.child({ module: 'history' }));
  const spool = config.influx.url !== '' ? new PostgresSpool(source, { maxBytes: config.spool.max_mb * 1024 * 1024, clock, log: influxLog, metrics }) : null;
  const journal = new PostgresReadingJournal(
    source,
    spool,
    binState,
    history,
    { maxBatch: config.spool.commit_max_batch, ...journalPace(config), clock },
    metrics,
    log.child({ module: 'journal' }),
  );
  const writer = spool
    ? new InfluxWriter(spool, createSink(config.influx, influxLog), { batchSize: config.influx.batch_size, flushIntervalMs: config.influx.flush_interval_ms, clock }, metrics, influxLog)
    : null;
  return {
    journal,
    spool,
    writer,
    worker: null,
    binState,
    history,
    async start() {
      await binState.start();
      await spool?.refresh(true);
    },
    async stop() {
      await spool?.close();
      await binState.stop();
    },
  };
}
