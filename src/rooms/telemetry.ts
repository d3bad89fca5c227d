import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Subscriber } from '../events.js';
import type { StopCause, Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { ZonesAndCrews, SqliteBinRegistry, knownFromConfig, zonesOfBins, type BinRegistry } from '../registry/index.js';
import {
  InfluxWriter,
  SqliteBinStateStore,
  SqliteReadingHistory,
  SqliteReadingJournal,
  SqliteSpool,
  V1Sink,
  V2Sink,
  openDatabase,
  recordTelemetry,
  type BinStateStore,
  type Db,
  type InfluxSink,
  type ReadingHistory,
  type ReadingJournal,
  type Spool,
  type TelemetryEvents,
} from '../storage/index.js';

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
  writer: InfluxWriter | null;
}

function createSink(config: Config['influx'], log: Logger): InfluxSink {
  const common = { url: config.url, timeoutMs: config.timeout_ms, gzip: config.gzip };
  return config.api === 'v1'
    ? new V1Sink({ ...common, db: config.db, rp: config.rp, username: config.username, password: config.password })
    : new V2Sink({ ...common, org: config.org, bucket: config.bucket, token: config.token, maxBatch: config.batch_size }, log);
}

/** InfluxDB's last chance at shutdown; after a failed start the points stay spooled for the next start. */
const LAST_CHANCE_MS = 5000;

/**
 * Opens the database and builds the telemetry room on it. A bins file that is refused closes the database again
 * before the error goes up (no room holds it yet). Started first and stopped last: its stop commits what the
 * journal holds, gives InfluxDB its last chance, closes the database and says how many points wait.
 */
export function telemetryRoom(deps: { config: Config; log: Logger; metrics: Metrics; events: Subscriber<TelemetryEvents>; clock: Clock }): TelemetryRoom {
  const db = openDatabase(deps.config.data_dir, { sync: deps.config.spool.sync });
  try {
    return build(db, deps);
  } catch (err) {
    db.close();
    throw err;
  }
}

function build(db: Db, { config, log, metrics, events, clock }: Parameters<typeof telemetryRoom>[0]): TelemetryRoom {
  const registry = new SqliteBinRegistry(db);
  const imported = registry.importFileIfChanged(config.registry.bins_file, knownFromConfig(config));
  log.info({ module: 'registry', file: config.registry.bins_file, bins: registry.size, imported: imported !== null }, 'registry loaded');

  const binState = new SqliteBinStateStore(db, clock);
  const spool = config.influx.url !== '' ? new SqliteSpool(db, config.spool.max_mb * 1024 * 1024, clock) : null;
  // each bin's 15-minute history for 35 days, written with the reading (the live page's chart, with or without InfluxDB)
  const history = new SqliteReadingHistory(db, clock, log.child({ module: 'history' }));
  const journal = new SqliteReadingJournal(
    db,
    spool,
    binState,
    { maxBatch: config.spool.commit_max_batch, delayMs: config.spool.commit_delay_ms, clock },
    metrics,
    log.child({ module: 'journal' }),
    history,
  );

  let writer: InfluxWriter | null = null;
  if (spool) {
    const influxLog = log.child({ module: 'influx' });
    const w = new InfluxWriter(spool, createSink(config.influx, influxLog), { batchSize: config.influx.batch_size, flushIntervalMs: config.influx.flush_interval_ms, clock }, metrics, influxLog);
    writer = w;
    journal.onCommitted(() => w.notify());
    // rule events, job changes and WhatsApp counts go to InfluxDB through the same durable spool as readings
    recordTelemetry(events, (lines) => {
      if (lines.length > 0) spool.appendSoon(lines, () => w.notify());
    });
    log.info({ module: 'influx', url: config.influx.url, api: config.influx.api, spooled: spool.stats().depth }, 'influx writer on');
  } else {
    log.warn({ module: 'influx' }, 'influx writer off (no influx.url): readings are validated and kept as bin state, not stored in InfluxDB');
  }

  const zonesAndCrews = new ZonesAndCrews(db);
  // no zones in the config: the bins file's zones are the zones
  const zones = config.zones.length > 0 ? config.zones : zonesOfBins(registry.all());
  if (zonesAndCrews.seedFromConfig(zones, config.crews)) {
    log.info({ module: 'registry', zones: zones.length, crews: config.crews.length, zones_from: config.zones.length > 0 ? 'config' : 'bins file' }, 'zones and crews taken from the config');
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
    start() {
      writer?.start();
      history.start();
    },
    async stop(cause: StopCause) {
      journal.flush();
      history.stop();
      // event points of the last turn (the outbox's final statuses) join the spool before the writer's last pass
      spool?.flushSoon();
      await writer?.stop(cause === 'shutdown' ? LAST_CHANCE_MS : 0);
      if (!db.open) return;
      const left = spool?.stats().depth ?? 0;
      db.close();
      if (cause === 'shutdown') log.info({ spooled: left }, left > 0 ? 'stopped; spooled points will be written at the next start' : 'stopped');
    },
  };
}
