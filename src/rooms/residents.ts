import type { DecisionWork } from '../decisions.js';
import type { AlertEvents, RuleRunner } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Dispatcher, DispatchEvents } from '../dispatch/index.js';
import type { Emitter, Subscriber } from '../events.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Notices } from '../notices/index.js';
import type { BinRegistry } from '../registry/index.js';
import { DiskPhotoStore, GraphMedia, PostgresPhotoStore, ReportsOpen311, createReports, type PhotoStore, type ReportEvents, type ReportStore, type ResidentFlow } from '../reports/index.js';
import type { BinStateStore, Db, Lease } from '../storage/index.js';
import type { Sealer } from '../privacy/index.js';
import type { Pool } from '../storage/postgres/index.js';
import type { Inbox, Outbox } from '../whatsapp/index.js';

/** Residents' reports: the conversation, the matcher, reports and photos, their retention, and the Open311 view of them. */
export interface ResidentsRoom extends Room {
  reports: ReportStore;
  photos: PhotoStore;
  flow: ResidentFlow;
  open311: ReportsOpen311;
}

/**
 * Also decides who an inbound WhatsApp message is for: crews and the supervisor answer jobs, everyone else is a
 * resident (whatsapp/ knows neither).
 */
export function residentsRoom(deps: {
  config: Config;
  db: Db;
  /** the stores decisions write together, one transaction each (SQLite or PostgreSQL) */
  decisions: DecisionWork;
  /** the lease timed work runs under: only its holder runs it when instances share a PostgreSQL store */
  lease: Lease;
  /** the store room's pool (null on SQLite, and until the store room has started): report photos are kept there */
  pool: () => Pool | null;
  sealer: Sealer;
  registry: BinRegistry;
  binState: BinStateStore;
  outbox: Outbox;
  inbox: Inbox;
  /** photos are fetched from the Graph API in cloud mode; the sandbox has none to fetch */
  cloudMedia: boolean;
  dispatcher: Dispatcher;
  /**
   * subscription commands are the notices' (STOP ends subscriptions too, then reaches the conversation); so is the
   * subscription a report's "Notify me" button asks for
   */
  notices: Pick<Notices, 'handleMessage' | 'subscribeToBin'>;
  rules: RuleRunner;
  metrics: Metrics;
  events: Subscriber<AlertEvents & DispatchEvents & ReportEvents> & Emitter<ReportEvents>;
  log: Logger;
  clock: Clock;
}): ResidentsRoom {
  const { config, registry, dispatcher, rules, metrics, events, inbox, decisions } = deps;
  const wa = config.whatsapp;
  const log = deps.log.child({ module: 'reports' });
  // where instances share a store, a photo received at one must be served by the others: in PostgreSQL too
  const photos: PhotoStore = decisions.shared ? new PostgresPhotoStore(deps.pool, deps.clock) : new DiskPhotoStore(config.data_dir);
  const { store: reports, flow, retention, matcher } = createReports({
    decisions,
    sealer: deps.sealer,
    registry,
    binState: deps.binState,
    inWindow: (waId, now) => deps.outbox.inWindow(waId, now),
    inbox,
    lease: deps.lease,
    media: deps.cloudMedia ? new GraphMedia({ graphUrl: wa.graph_url, apiVersion: wa.api_version, accessToken: wa.access_token }) : null,
    photos,
    config: { reports: config.reports, template: wa.templates.resident },
    // in the message's transaction, in this order (the bin's rule_state row, then the dispatch queue)
    onReport: async (t, binId) => {
      await rules.onReport(t, binId);
    },
    requestDispatch: async (t, binId) => {
      await dispatcher.request(t, binId, false, 'resident report');
    },
    countMatch: (method) => metrics.reportMatches.inc({ method }),
    events,
    subscribe: (t, m, binId, lang) => deps.notices.subscribeToBin(t, m, binId, lang),
    log,
    clock: deps.clock,
  });
  // each in its own transaction, after the one that handed the job out or emptied the bin
  const settle = (what: string, p: Promise<void>): void => void p.catch((err: unknown) => log.error({ err, event: what }, 'reports not updated'));
  events.on('job.changed', ({ job, status }) => {
    if (status === 'pending') settle('dispatched', flow.onDispatched(job.bin_ids));
    if (status === 'done') for (const id of job.bin_ids) settle('collected', flow.onCollected(id, job.crew_id));
  });
  events.on('report.feedback', ({ zone, answer }) => metrics.reportFeedback.inc({ zone, answer }));
  events.on('alerts.applied', (applied) => {
    for (const e of applied) if (e.type === 'collected') settle('collected', flow.onCollected(e.binId));
  });
  inbox.onMessage(async (m) => {
    // crews and the supervisor answer jobs; subscription commands are the notices'
    if ((await dispatcher.handleMessage(m)) || (await deps.notices.handleMessage(m))) return;
    await flow.handle(m);
  });
  return {
    name: 'residents',
    reports,
    photos,
    flow,
    open311: new ReportsOpen311(reports, registry, matcher, flow, { snapRadiusM: config.reports.snap_radius_m }),
    start: () => retention.start(),
    stop: () => retention.stop(),
  };
}
