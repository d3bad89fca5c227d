import fs from 'node:fs';
import { RuleStateCache, SqliteRuleStateStore, type AlertEvents, type AlertStore, type RuleRunner } from './alerts/index.js';
import type { DeviceSecrets } from './broker/index.js';
import { realClock, type Clock } from './clock.js';
import type { Config } from './config/index.js';
import type { DispatchEvents, Dispatcher } from './dispatch/index.js';
import { EventBus } from './events.js';
import { Access, loadApiToken, type ApiToken, type Readiness } from './http/index.js';
import { Lifecycle } from './lifecycle.js';
import type { Logger } from './log.js';
import { DecisionWork } from './decisions.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { ZonesAndCrews, BinRegistry } from './registry/index.js';
import type { ReportEvents, ReportStore, ResidentFlow } from './reports/index.js';
import type { BinRuleState } from './rules/index.js';
import { alertingRoom } from './rooms/alerting.js';
import { dispatchRoom } from './rooms/dispatch.js';
import { edgesRoom } from './rooms/edges.js';
import { liveRoom } from './rooms/live.js';
import { messagingRoom } from './rooms/messaging.js';
import { noticesRoom, type NoticeEvents } from './rooms/notices.js';
import { residentsRoom } from './rooms/residents.js';
import { storeRoom } from './rooms/store.js';
import { telemetryRoom } from './rooms/telemetry.js';
import type { BinStateStore, Db, Lease, ReadingHistory, ReadingJournal, Spool, SpoolWriter } from './storage/index.js';
import { loadSealer } from './privacy/index.js';
import { type Inbox, type MessageEvents, type Outbox, type SandboxTransport } from './whatsapp/index.js';

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
  registry: BinRegistry;
  binState: BinStateStore;
  history: ReadingHistory;
  spool: Spool | null;
  writer: SpoolWriter | null;
  /** the durable journal of readings (spool.journal: inline or worker) */
  journal: ReadingJournal;
  secrets: DeviceSecrets;
  zonesAndCrews: ZonesAndCrews;
  alerts: AlertStore;
  rules: RuleRunner;
  dispatcher: Dispatcher;
  reports: ReportStore;
  flow: ResidentFlow;
  outbox: Outbox;
  inbox: Inbox;
  sandbox: SandboxTransport | null;
  metrics: Metrics;
  /** the lease timed work runs under (store room): always held on SQLite */
  lease: Lease;
  readiness: () => Readiness;
  /** http.api_token, or the one generated into data_dir (the command line prints the page's address with it) */
  apiToken: ApiToken;
  /** Stops taking readings, commits what was received, gives InfluxDB a last chance, closes the store. */
  stop: () => Promise<void>;
}

/** Every domain event of the program, by the room that emits it. */
type AppEvents = AlertEvents & DispatchEvents & MessageEvents & NoticeEvents & ReportEvents;

export interface AppOptions {
  /** the wall clock by default; the city twin and tests run the same program on a manual clock */
  clock?: Clock;
}

/**
 * The composition root: builds each room from the config, in an order where every room finds what it uses already
 * built, wires them (all handlers are in place before anything starts), then starts them in that order. Stopping
 * runs in exact reverse: the edges (upstreams, broker, HTTP) stop taking work, then the live page, the residents'
 * side, the rules, the dispatcher, the inbox and outbox, and last the writer and the database. A start that fails
 * half-way (a bins file refused, a port in use) stops every room it had built and rethrows.
 */
export async function startApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<RunningApp> {
  const clock = opts.clock ?? realClock;
  const metrics = createMetrics();
  // one typed bus for the domain events; a failing listener is logged and counted, never breaks the emitter
  const bus = new EventBus<AppEvents>(log.child({ module: 'events' }), (type) => metrics.eventListenerFailures.inc({ event: type }));
  const life = new Lifecycle(log);
  try {
    const store = life.add(storeRoom({ config, log, metrics, clock }));
    const telemetry = life.add(telemetryRoom({ config, log, metrics, events: bus, clock, store }));
    const { db, registry, binState, zonesAndCrews } = telemetry;
    // residents' and crews' numbers are stored only as keyed pseudonyms and sealed
    const sealer = loadSealer(config.reports.pseudonym_key, config.data_dir);
    const messaging = life.add(messagingRoom({ config: config.whatsapp, db, sealer, metrics, events: bus, log, clock, ...(config.store.url === '' ? {} : { pool: store.pool }) }));
    // the stores the rules, the dispatcher, the residents' flow and the notices write together, one transaction a decision
    const decisions = new DecisionWork({ db, sealer, outbox: messaging.outbox, pool: store.pool, shared: config.store.url !== '', log });
    // the rules engine's memory of each bin: the rules write it, the dispatcher's planner reads the fill rates in it
    // (on PostgreSQL the rules lock and write each bin's row, shared by the instances; this is their cache)
    const ruleStates = config.store.url === '' ? new SqliteRuleStateStore<BinRuleState>(db, telemetry.journal) : new RuleStateCache<BinRuleState>();
    const dispatch = life.add(dispatchRoom({ config, db, decisions, lease: store.lease, registry, binState, zonesAndCrews, ruleStates, outbox: messaging.outbox, events: bus, log, clock }));
    const alerting = life.add(
      alertingRoom({
        config,
        decisions,
        lease: store.lease,
        registry,
        zonesAndCrews,
        ruleStates,
        journal: telemetry.journal,
        // the dispatcher's writes join the rules' transaction (adapter: onEvents is synchronous on SQLite until it takes `t`)
        onApplied: (t, applied) => dispatch.dispatcher.onEvents(t, applied),
        events: bus,
        metrics,
        log,
        clock,
      }),
    );
    const notices = life.add(noticesRoom({ config, db, decisions, lease: store.lease, sealer, registry, zonesAndCrews, outbox: messaging.outbox, metrics, events: bus, log, clock }));
    const residents = life.add(
      residentsRoom({
        notices: notices.notices,
        config,
        db,
        decisions,
        lease: store.lease,
        pool: store.pool,
        sealer,
        registry,
        binState,
        outbox: messaging.outbox,
        inbox: messaging.inbox,
        cloudMedia: messaging.sandbox === null,
        dispatcher: dispatch.dispatcher,
        rules: alerting.rules,
        metrics,
        events: bus,
        log,
        clock,
      }),
    );
    const apiToken = loadApiToken(config.http.api_token, config.data_dir);
    const access = new Access({ token: apiToken.value, loopbackOpen: apiToken.source !== 'config', trustProxy: config.http.trust_proxy !== '' });
    const live = life.add(
      liveRoom({ config, access, binState, registry, history: telemetry.history, journal: telemetry.journal, inbox: messaging.inbox, sandbox: messaging.sandbox, events: bus, clock }),
    );
    const edges = life.add(edgesRoom({ config, access, version: APP_VERSION, metrics, log, clock, store, telemetry, alerting, dispatch, messaging, residents, live, notices }));
    await life.start();
    return {
      ports: { ...edges.ports },
      db,
      registry,
      binState,
      history: telemetry.history,
      spool: telemetry.spool,
      writer: telemetry.writer,
      journal: telemetry.journal,
      secrets: edges.secrets,
      zonesAndCrews,
      alerts: alerting.alerts,
      rules: alerting.rules,
      dispatcher: dispatch.dispatcher,
      reports: residents.reports,
      flow: residents.flow,
      outbox: messaging.outbox,
      inbox: messaging.inbox,
      sandbox: messaging.sandbox,
      metrics,
      lease: store.lease,
      readiness: edges.readiness,
      apiToken,
      stop: () => life.stop('shutdown'),
    };
  } catch (err) {
    // a room that could not be built: stop those that were (a failed start has stopped them already; this waits for it)
    await life.stop('failed start');
    throw err;
  }
}
