import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AlertStore, RuleRunner, type AlertEvents } from './alerts/index.js';
import { realClock, type Clock } from './clock.js';
import { EventBus } from './events.js';
import { DeviceSecrets, MqttBroker } from './broker/index.js';
import type { Config } from './config/index.js';
import { Ingest, RejectionLog } from './ingest/index.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Dispatcher, type DispatchEvents } from './dispatch/index.js';
import { Directory, Registry, knownFromConfig, zonesOfBins } from './registry/index.js';
import { listenFailure } from './start-error.js';
import { binRoutes, buildHttp, deviceRoutes, dispatchView, messageRoutes, opsRoutes, reportRoutes, type Readiness } from './http/index.js';
import { createWhatsApp, loadSealer, whatsappWebhookRoutes, type Inbox, type MessageEvents, type Outbox, type SandboxTransport } from './whatsapp/index.js';
import { GraphMedia, ReportsOpen311, createReports, type ReportStore, type ResidentFlow } from './reports/index.js';
import { open311Routes } from './http/routes/open311.js';
import { fiwareRoutes } from './http/routes/fiware.js';
// upstream brokers (mqtt.upstreams): TTN / ChirpStack / native feeds read as an MQTT client
import { Upstreams } from './upstream/index.js';
// live page: event hub, SSE, page and sandbox routes (wired below, before outbox.start())
import { LiveEvents, liveEventsRoute } from './http/live-events.js';
import { liveApiRoutes, livePageRoutes } from './http/routes/live.js';
import { sandboxRoutes } from './http/routes/sandbox.js';
import {
  BinStateStore,
  InfluxWriter,
  ReadingHistory,
  ReadingJournal,
  Spool,
  V1Sink,
  V2Sink,
  openDatabase,
  recordTelemetry,
  type Db,
  type InfluxSink,
} from './storage/index.js';

/** binbridge's version, from the package.json above this module (src/ when run from source, dist/src/ when built) */
const APP_VERSION = ((): string => {
  for (const up of ['../package.json', '../../package.json']) {
    const file = new URL(up, import.meta.url);
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0';
  }
  return '0.0.0';
})();

export interface RunningApp {
  ports: { mqtt: number | null; mqttTls: number | null; http: number };
  db: Db;
  registry: Registry;
  binState: BinStateStore;
  history: ReadingHistory;
  spool: Spool | null;
  writer: InfluxWriter | null;
  secrets: DeviceSecrets;
  directory: Directory;
  alerts: AlertStore;
  rules: RuleRunner;
  dispatcher: Dispatcher;
  reports: ReportStore;
  flow: ResidentFlow;
  outbox: Outbox;
  inbox: Inbox;
  sandbox: SandboxTransport | null;
  metrics: Metrics;
  readiness: () => Readiness;
  /** Stops taking readings, commits what was received, gives InfluxDB a last chance, closes the store. */
  stop: () => Promise<void>;
}

function createSink(config: Config['influx'], log: Logger): InfluxSink {
  const common = { url: config.url, timeoutMs: config.timeout_ms, gzip: config.gzip };
  return config.api === 'v1'
    ? new V1Sink({ ...common, db: config.db, rp: config.rp, username: config.username, password: config.password })
    : new V2Sink({ ...common, org: config.org, bucket: config.bucket, token: config.token, maxBatch: config.batch_size }, log);
}

/** Every domain event of the program, by the room that emits it. */
type AppEvents = AlertEvents & DispatchEvents & MessageEvents;

export interface AppOptions {
  /** the wall clock by default; the city twin and tests run the same program on a manual clock */
  clock?: Clock;
}

/**
 * The composition root: builds every module from the config, wires them, and starts the listeners.
 * A start that fails half-way (a bins file refused, a port in use) stops what had started, in reverse, and rethrows.
 */
export async function startApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<RunningApp> {
  const started: (() => unknown)[] = [];
  try {
    return await buildApp(config, log, opts.clock ?? realClock, (stop) => started.push(stop));
  } catch (err) {
    for (const stop of started.reverse()) {
      try {
        await stop();
      } catch (e) {
        log.warn({ err: e }, 'stopping after a failed start');
      }
    }
    throw err;
  }
}

/** `undo` registers how to stop each part as it starts; on success, the returned `stop` stops them all. */
async function buildApp(config: Config, log: Logger, clock: Clock, undo: (stop: () => unknown) => void): Promise<RunningApp> {
  const db = openDatabase(config.data_dir, { sync: config.spool.sync });
  undo(() => db.close());
  const metrics = createMetrics();

  const registry = new Registry(db);
  const imported = registry.importFileIfChanged(config.registry.bins_file, knownFromConfig(config));
  log.info({ module: 'registry', file: config.registry.bins_file, bins: registry.size, imported: imported !== null }, 'registry loaded');

  const binState = new BinStateStore(db, clock);
  const influxOn = config.influx.url !== '';
  const spool = influxOn ? new Spool(db, config.spool.max_mb * 1024 * 1024, clock) : null;
  // each bin's 15-minute history for 35 days, written with the reading (the live page's chart, with or without InfluxDB)
  const history = new ReadingHistory(db, clock, log.child({ module: 'history' }));
  const journal = new ReadingJournal(
    db,
    spool,
    binState,
    { maxBatch: config.spool.commit_max_batch, delayMs: config.spool.commit_delay_ms, clock },
    metrics,
    log.child({ module: 'journal' }),
    history,
  );
  undo(() => journal.flush());

  let writer: InfluxWriter | null = null;
  if (spool) {
    const sink = createSink(config.influx, log.child({ module: 'influx' }));
    writer = new InfluxWriter(spool, sink, { batchSize: config.influx.batch_size, flushIntervalMs: config.influx.flush_interval_ms, clock }, metrics, log.child({ module: 'influx' }));
    journal.onCommitted(() => writer!.notify());
    writer.start();
    undo(() => writer!.stop(0));
    const s = spool.stats();
    log.info({ module: 'influx', url: config.influx.url, api: config.influx.api, spooled: s.depth }, 'influx writer on');
  } else {
    log.warn({ module: 'influx' }, 'influx writer off (no influx.url): readings are validated and kept as bin state, not stored in InfluxDB');
  }

  // one typed bus for the domain events; a failing listener is logged and counted, never breaks the emitter
  const bus = new EventBus<AppEvents>(log.child({ module: 'events' }), (type) => metrics.eventListenerFailures.inc({ event: type }));
  // rule events, job changes and WhatsApp counts go to InfluxDB through the same durable spool as readings
  if (spool) {
    recordTelemetry(bus, (lines) => {
      if (lines.length > 0) spool.appendSoon(lines, () => writer?.notify());
    });
  }

  const directory = new Directory(db);
  // no zones in the config: the bins file's zones are the zones
  const zones = config.zones.length > 0 ? config.zones : zonesOfBins(registry.all());
  if (directory.seedFromConfig(zones, config.crews)) {
    log.info({ module: 'registry', zones: zones.length, crews: config.crews.length, zones_from: config.zones.length > 0 ? 'config' : 'bins file' }, 'zones and crews taken from the config');
  }
  const alerts = new AlertStore(db);
  const rules = new RuleRunner(db, registry, alerts, config, directory, bus, log.child({ module: 'rules' }), clock);
  journal.onCommitted((entries) => rules.onReadings(entries.map((e) => e.reading)));

  const wa = config.whatsapp;
  // residents' and crews' numbers are stored only as keyed pseudonyms and sealed
  const sealer = loadSealer(config.reports.pseudonym_key, config.data_dir);
  const { sandbox, outbox, inbox } = createWhatsApp({ config: wa, db, sealer, metrics, events: bus, log, clock });

  const dispatcher = new Dispatcher({
    db,
    registry,
    binState,
    outbox,
    directory,
    config,
    events: bus,
    log: log.child({ module: 'dispatch' }),
    clock,
  });
  bus.on('alerts.applied', (events) => dispatcher.onEvents(events));
  outbox.onResult((r) => dispatcher.onOutboxResult(r));
  // residents' reports
  const { store: reports, photos, flow, retention, matcher: currentMatcher } = createReports({
    db,
    sealer,
    registry,
    binState,
    outbox,
    inbox,
    media: sandbox ? null : new GraphMedia({ graphUrl: wa.graph_url, apiVersion: wa.api_version, accessToken: wa.access_token }),
    config: { reports: config.reports, template: wa.templates.resident, dataDir: config.data_dir },
    onReport: (binId) => rules.onReport(binId),
    requestDispatch: (binId) => {
      if (dispatcher.request(binId, false, 'resident report')) dispatcher.tick();
    },
    countMatch: (method) => metrics.reportMatches.inc({ method }),
    log: log.child({ module: 'reports' }),
    clock,
  });
  bus.on('job.changed', ({ job, status }) => {
    if (status === 'pending') flow.onDispatched(job.bin_ids);
    if (status === 'done') for (const id of job.bin_ids) flow.onCollected(id);
  });
  bus.on('alerts.applied', (events) => {
    for (const e of events) if (e.type === 'collected') flow.onCollected(e.binId);
  });
  inbox.onMessage(async (m) => {
    // crews and the supervisor answer jobs; everyone else is a resident
    if (!dispatcher.handleMessage(m)) await flow.handle(m);
  });

  const ingest = new Ingest(
    registry,
    journal,
    new RejectionLog(config.ingest.reject_log_interval_s * 1000, metrics, log.child({ module: 'ingest' }), clock),
    { maxFutureMs: config.ingest.max_future_s * 1000, writeInflux: influxOn, stateIntervalMs: config.influx.state_interval_s * 1000, clock },
    metrics,
    log.child({ module: 'ingest' }),
  );

  const secrets = new DeviceSecrets(db, { clock });
  const broker = new MqttBroker({
    config: config.mqtt,
    ingest,
    secrets,
    binState,
    isKnownBin: (id) => registry.get(id) !== undefined,
    metrics,
    log: log.child({ module: 'broker' }),
    clock,
  });

  const readiness = (): Readiness => {
    const checks: Record<string, string> = {
      broker: broker.listening ? 'ok' : 'down',
      store: db.open ? 'ok' : 'closed',
      influx: !writer ? 'off' : writer.healthy === false ? 'spooling' : 'ok',
    };
    if (spool?.full) checks.spool = 'full';
    return { ready: broker.listening && db.open && !spool?.full, checks };
  };

  const beforeScrape = (): void => {
    metrics.devicesOnline.set(binState.onlineCount());
    metrics.alertsOpen.reset();
    for (const { type, n } of alerts.openCounts()) metrics.alertsOpen.set({ type }, n);
    for (const status of ['pending', 'sent', 'accepted', 'done', 'escalated', 'cancelled'] as const) metrics.dispatches.set({ status }, 0);
    for (const { status, n } of dispatcher.store.countByStatus()) metrics.dispatches.set({ status }, n);
    if (!spool) return;
    const s = spool.stats();
    metrics.spoolDepth.set(s.depth);
    metrics.spoolBytes.set(s.bytes);
    metrics.spoolOldestAge.set(s.oldestMs === null ? 0 : (clock.now() - s.oldestMs) / 1000);
    metrics.spoolFull.set(s.full ? 1 : 0);
  };

  // --- live page: the hub is fed by committed readings (throttled per bin), rule events, job changes, reports
  // (polled each second, and at once after a job change or an inbound message) and, in sandbox mode, recorded messages;
  // the chart reads the embedded history. Routes: / and /vendor/*, /api/events (SSE), /api/page,
  // /api/bins/:id/readings, /api/sandbox/inbound (sandbox mode only).
  const live = new LiveEvents({ statusOf: (id) => binState.get(id)?.status ?? null, clock });
  journal.onCommitted((entries) => live.onReadings(entries.map((e) => e.reading)));
  bus.on('alerts.applied', (events) => live.onAlerts(events));
  const liveReports = live.watchReports(() => reports.list({ limit: 50 }));
  bus.on('job.changed', ({ job }) => {
    live.publish('dispatch', dispatchView(job));
    liveReports.poke();
  });
  inbox.onMessage(() => liveReports.poke());
  if (sandbox) live.watchSandbox((limit) => sandbox.list({ limit }));
  undo(() => live.close());
  const livePlugins = {
    root: [livePageRoutes(), liveEventsRoute(live, { apiToken: config.http.api_token })],
    api: [
      liveApiRoutes({ history, findBin: (id) => registry.lookup(id)?.id, timezone: config.timezone, clock }),
      sandboxRoutes({ inbox: sandbox ? inbox : null, clock }),
    ],
  };
  // --- end of the live page's wiring

  outbox.start();
  undo(() => outbox.stop());
  inbox.start();
  undo(() => inbox.stop());
  retention.start();
  undo(() => retention.stop());
  history.start();
  undo(() => history.stop());
  rules.start();
  undo(() => rules.stop());
  dispatcher.start();
  undo(() => dispatcher.stop());
  undo(() => broker.stop());
  const mqttListeners = [
    { port: config.mqtt.port, host: config.mqtt.host, portKey: 'mqtt.port', hostKey: 'mqtt.host' },
    { port: config.mqtt.tls.port, host: config.mqtt.host, portKey: 'mqtt.tls.port', hostKey: 'mqtt.host' },
  ];
  const ports = await broker.start().catch((err: unknown) => {
    throw listenFailure(err, mqttListeners);
  });
  // --- upstream brokers (mqtt.upstreams): started after the broker, stopped first in stop(); they connect in the background
  const upstreams = new Upstreams({
    upstreams: config.mqtt.upstreams,
    dataDir: config.data_dir,
    ingest,
    findBin: (device) => registry.findByDevice(device),
    metrics,
    log: log.child({ module: 'upstream' }),
    clock,
  });
  upstreams.start();
  undo(() => upstreams.stop());
  // --- end of the upstream brokers' wiring
  const http = await buildHttp({
    version: APP_VERSION,
    metrics,
    readiness,
    beforeScrape,
    apiToken: config.http.api_token,
    limits: config.http,
    log,
    root: [
      (app) => whatsappWebhookRoutes(app, { inbox, appSecret: wa.app_secret, verifyToken: wa.verify_token, log, metrics }),
      open311Routes({ source: new ReportsOpen311(reports, registry, currentMatcher, flow, { snapRadiusM: config.reports.snap_radius_m }), apiKeys: config.open311.api_keys, agency: config.open311.agency, clock }),
      ...livePlugins.root, // live page
    ],
    api: [
      binRoutes({ registry, binState, directory, kinds: config.registry.kinds, alerts, revokeDevice: (id) => broker.revokeDevice(id), clearRetained: (id) => broker.clearRetained(id), clock }),
      deviceRoutes({ revoke: (id) => broker.revokeDevice(id) }),
      fiwareRoutes({ registry, binState, known: () => ({ zones: directory.zones().map((z) => z.id), kinds: config.registry.kinds }) }),
      opsRoutes({ alerts, dispatcher, directory }),
      reportRoutes({ reports, photos }),
      messageRoutes({ sandbox, outbox }),
      ...livePlugins.api, // live page
    ],
  });
  undo(() => http.close());
  broker.attachWebSocket(http.server);
  await http.listen({ port: config.http.port, host: config.http.host }).catch((err: unknown) => {
    throw listenFailure(err, [{ port: config.http.port, host: config.http.host, portKey: 'http.port', hostKey: 'http.host' }]);
  });
  const httpPort = (http.server.address() as AddressInfo).port;

  if (ports.tcp !== null) log.info({ listener: 'mqtt', port: ports.tcp, auth: config.mqtt.auth }, 'listening');
  if (ports.tls !== null) log.info({ listener: 'mqtts', port: ports.tls }, 'listening');
  log.info({ listener: 'http', port: httpPort }, 'listening');
  log.info({ listener: 'mqtt-ws', port: httpPort, path: config.mqtt.ws_path }, 'listening');

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await upstreams.stop(); // upstream brokers: readings being recorded are acknowledged first
      await broker.stop();
      journal.flush();
      dispatcher.stop();
      rules.stop();
      retention.stop();
      history.stop();
      await inbox.stop();
      await outbox.stop();
      spool?.flushSoon();
      await writer?.stop(5000);
      // a client that stopped reading (a half-read response, a stuck proxy) must not hold the shutdown up
      // sockets live in wall time, whatever clock the program runs on
      const force = realClock.setTimeout(() => http.server.closeAllConnections(), 3000);
      await http.close();
      force.clear();
      const left = spool?.stats().depth ?? 0;
      db.close();
      log.info({ spooled: left }, left > 0 ? 'stopped; spooled points will be written at the next start' : 'stopped');
    })());

  return {
    ports: { mqtt: ports.tcp, mqttTls: ports.tls, http: httpPort },
    db,
    registry,
    binState,
    history,
    spool,
    writer,
    secrets,
    directory,
    alerts,
    rules,
    dispatcher,
    reports,
    flow,
    outbox,
    inbox,
    sandbox,
    metrics,
    readiness,
    stop,
  };
}
