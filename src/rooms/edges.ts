import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { realClock, type Clock } from '../clock.js';
import { MqttBroker, PostgresDeviceSecrets, SqliteDeviceSecrets, loadDeviceKey, type DeviceSecrets } from '../broker/index.js';
import type { Config } from '../config/index.js';
import { binRoutes, buildHttp, deviceRoutes, messageRoutes, opsRoutes, reportRoutes, type Access, type Readiness } from '../http/index.js';
import { fiwareRoutes } from '../http/routes/fiware.js';
import { open311Routes } from '../http/routes/open311.js';
import { Ingest, RejectionLog } from '../ingest/index.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { refreshGauges, type Metrics } from '../metrics.js';
import { listenFailure } from '../start-error.js';
import { Upstreams } from '../upstream/index.js';
import { whatsappWebhookRoutes } from '../http/routes/whatsapp-webhook.js';
import type { AlertingRoom } from './alerting.js';
import type { DispatchRoom } from './dispatch.js';
import type { LiveRoom } from './live.js';
import type { MessagingRoom } from './messaging.js';
import type { NoticesRoom } from './notices.js';
import type { ResidentsRoom } from './residents.js';
import type { StoreRoom } from './store.js';
import type { TelemetryRoom } from './telemetry.js';

/** Where work comes in: the embedded MQTT broker, the upstream brokers (mqtt.upstreams) and HTTP. */
export interface EdgesRoom extends Room {
  secrets: DeviceSecrets;
  /** the ports listened on, once started (port 0 in the config picks a free one) */
  ports: { mqtt: number | null; mqttTls: number | null; http: number };
  readiness: () => Readiness;
}

/** After this long, HTTP connections still open at a shutdown are closed (sockets live in wall time, whatever the clock). */
const FORCE_CLOSE_MS = 3000;

/**
 * Started last and stopped first: at a shutdown the upstreams, the broker and HTTP stop taking work, then what
 * they took is committed (the journal's flush) while the rooms that react to it still run.
 */
export function edgesRoom(deps: {
  config: Config;
  /** who may use /api, /metrics and /docs (http/auth.ts) */
  access: Access;
  /** shown in the OpenAPI document */
  version: string;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** with a store.url, the device secrets live in its PostgreSQL (the pool is there once the store room started) */
  store: Pick<StoreRoom, 'pool' | 'readiness'>;
  telemetry: TelemetryRoom;
  alerting: AlertingRoom;
  dispatch: DispatchRoom;
  messaging: MessagingRoom;
  residents: ResidentsRoom;
  live: LiveRoom;
  notices: NoticesRoom;
}): EdgesRoom {
  const { config, metrics, log, clock, telemetry, messaging, residents } = deps;
  const { db, registry, binState, journal, spool, writer } = telemetry;
  const { dispatcher } = deps.dispatch;
  const { alerts } = deps.alerting;

  const ingest = new Ingest(
    registry,
    journal,
    new RejectionLog(config.ingest.reject_log_interval_s * 1000, metrics, log.child({ module: 'ingest' }), clock),
    { maxFutureMs: config.ingest.max_future_s * 1000, writeInflux: spool !== null, stateIntervalMs: config.influx.state_interval_s * 1000, clock },
    metrics,
    log.child({ module: 'ingest' }),
  );
  const deviceKey = loadDeviceKey(config.data_dir, config.mqtt.device_secrets_key);
  const shared = config.store.url !== '' ? new PostgresDeviceSecrets(() => deps.store.pool(), deviceKey.key, { clock }) : null;
  const secrets: DeviceSecrets = shared ?? new SqliteDeviceSecrets(db, deviceKey.key, { clock });
  const brokerLog = log.child({ module: 'broker' });
  const sayKinds = (): void => {
    const kinds = secrets.counts();
    if (deviceKey.created && kinds.hmac > 0) {
      // the key file was lost (or, on PostgreSQL, not copied from the first instance): these records were made
      // under another key and no device secret among them verifies
      brokerLog.error({ event: 'device_key_new', file: deviceKey.file, records: kinds.hmac }, 'device secrets key generated anew: the stored secrets no longer verify; restore the key file from the backup of data_dir, or provision every device again');
    }
    if (kinds.scrypt > 0) brokerLog.info({ event: 'device_secrets_scrypt', records: kinds.scrypt }, 'scrypt device secrets are replaced by HMAC ones at each device\'s next login');
  };
  // on PostgreSQL the records are read at start, once the store room has its pool
  if (!shared) sayKinds();
  const broker = new MqttBroker({ config: config.mqtt, ingest, secrets, binState, isKnownBin: (id) => registry.get(id) !== undefined, metrics, log: brokerLog, clock });
  // TTN / ChirpStack / native feeds read as an MQTT client; they connect in the background
  const upstreams = new Upstreams({
    upstreams: config.mqtt.upstreams,
    dataDir: config.data_dir,
    ingest,
    findBin: (device) => registry.findByDevice(device),
    metrics,
    log: log.child({ module: 'upstream' }),
    clock,
  });

  const readiness = (): Readiness => {
    const checks: Record<string, string> = {
      broker: broker.listening ? 'ok' : 'down',
      store: db.open ? 'ok' : 'closed',
      influx: !writer ? 'off' : writer.healthy === false ? 'spooling' : 'ok',
    };
    if (spool?.full) checks.spool = 'full';
    // a journal worker being restarted refuses readings: not ready until it records them again
    const journalState = journal.backlog().state;
    if (journalState !== 'ok') checks.journal = journalState;
    const store = deps.store.readiness();
    return {
      ready: broker.listening && db.open && !spool?.full && journalState === 'ok' && store.ready,
      checks: { ...checks, ...store.checks },
      instance: store.instance,
      lease: store.lease,
    };
  };

  const buildRoutes = (): Promise<FastifyInstance> => {
    const wa = config.whatsapp;
    const { inbox, outbox, sandbox } = messaging;
    return buildHttp({
      version: deps.version,
      metrics,
      readiness,
      beforeScrape: async () => {
        const { counted, cause } = await refreshGauges(metrics, { binState, alerts, dispatches: dispatcher.store, messagingLimit: outbox, spool, journal, now: () => clock.now(), clock });
        if (!counted) log.warn({ err: cause }, 'metrics: open alerts and jobs not counted (the store did not answer); their gauges keep their last values');
      },
      access: deps.access,
      limits: config.http,
      log,
      root: [
        (app) => whatsappWebhookRoutes(app, { inbox, appSecret: wa.app_secret, verifyToken: wa.verify_token, log, metrics }),
        open311Routes({ source: residents.open311, apiKeys: config.open311.api_keys, agency: config.open311.agency, clock }),
        ...deps.live.routes.root,
      ],
      api: [
        binRoutes({
          registry,
          binState,
          zonesAndCrews: telemetry.zonesAndCrews,
          kinds: config.registry.kinds,
          alerts,
          revokeDevice: (id) => broker.revokeDevice(id),
          clearRetained: (id) => broker.clearRetained(id),
          outliers: (id) => deps.alerting.rules.outliersOf(id),
          clock,
        }),
        deviceRoutes({ revoke: (id) => broker.revokeDevice(id) }),
        fiwareRoutes({ registry, binState, known: () => ({ zones: telemetry.zonesAndCrews.zones().map((z) => z.id), kinds: config.registry.kinds }) }),
        opsRoutes({ alerts, dispatcher, zonesAndCrews: telemetry.zonesAndCrews }),
        reportRoutes({ reports: residents.reports, photos: residents.photos }),
        messageRoutes({ sandbox, outbox }),
        deps.notices.routes,
        ...deps.live.routes.api,
      ],
    });
  };

  let http: FastifyInstance | null = null;
  const ports = { mqtt: null as number | null, mqttTls: null as number | null, http: 0 };
  return {
    name: 'edges',
    secrets,
    ports,
    readiness,
    async start() {
      if (shared) {
        await shared.load();
        sayKinds();
      }
      const mqttListeners = [
        { port: config.mqtt.port, host: config.mqtt.host, portKey: 'mqtt.port', hostKey: 'mqtt.host' },
        { port: config.mqtt.tls.port, host: config.mqtt.host, portKey: 'mqtt.tls.port', hostKey: 'mqtt.host' },
      ];
      const listening = await broker.start().catch((err: unknown) => {
        throw listenFailure(err, mqttListeners);
      });
      ports.mqtt = listening.tcp;
      ports.mqttTls = listening.tls;
      upstreams.start();
      http = await buildRoutes();
      broker.attachWebSocket(http.server);
      await http.listen({ port: config.http.port, host: config.http.host }).catch((err: unknown) => {
        throw listenFailure(err, [{ port: config.http.port, host: config.http.host, portKey: 'http.port', hostKey: 'http.host' }]);
      });
      ports.http = (http.server.address() as AddressInfo).port;
      if (ports.mqtt !== null) log.info({ listener: 'mqtt', port: ports.mqtt, auth: config.mqtt.auth }, 'listening');
      if (ports.mqttTls !== null) log.info({ listener: 'mqtts', port: ports.mqttTls }, 'listening');
      log.info({ listener: 'http', port: ports.http }, 'listening');
      log.info({ listener: 'mqtt-ws', port: ports.http, path: config.mqtt.ws_path }, 'listening');
    },
    async stop() {
      await upstreams.stop(); // readings being recorded are acknowledged first
      // the broker before HTTP: closing aedes ends the MQTT-over-WebSocket clients, which HTTP's close would wait for
      await broker.stop();
      if (http) {
        // a client that stopped reading (a half-read response, a stuck proxy) must not hold the shutdown up
        const server = http.server;
        const force = realClock.setTimeout(() => server.closeAllConnections(), FORCE_CLOSE_MS);
        await http.close();
        force.clear();
      }
      // what the edges took is committed while the rules, the dispatcher and the live page still follow it
      await journal.flush();
    },
  };
}
