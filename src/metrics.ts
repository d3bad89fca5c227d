import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { realClock, within, type Clock } from './clock.js';

/**
 * Every Prometheus metric binbridge exposes, in one place so names stay consistent.
 * Built once by the composition root and passed to the modules that move them.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'binbridge_' });
  const r = [registry];
  return {
    registry,
    readingsAccepted: new Counter({
      name: 'binbridge_readings_accepted_total',
      help: 'Readings validated and durably recorded, by source',
      labelNames: ['source'] as const,
      registers: r,
    }),
    readingsOutliers: new Counter({
      name: 'binbridge_readings_outliers_total',
      help: 'Readings set aside as outliers: a lone spike the next reading contradicted (stored, but no fill level for the rules)',
      registers: r,
    }),
    readingsRejected: new Counter({
      name: 'binbridge_readings_rejected_total',
      help: 'Readings refused and not stored, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    mqttConnectedDevices: new Gauge({
      name: 'binbridge_mqtt_connected_clients',
      help: 'MQTT clients connected to the embedded broker',
      registers: r,
    }),
    mqttRefused: new Counter({
      name: 'binbridge_mqtt_refused_total',
      help: 'MQTT connections, publishes and subscriptions refused, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    httpConnectionsRefused: new Counter({
      name: 'binbridge_http_connections_refused_total',
      help: 'HTTP connections closed on arrival: per_ip (http.max_connections_per_ip) or total (http.max_connections)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    devicesOnline: new Gauge({
      name: 'binbridge_devices_online',
      help: 'Bins whose last status message is online',
      registers: r,
    }),
    journalCommit: new Histogram({
      name: 'binbridge_journal_commit_seconds',
      help: 'Time to durably commit one group of readings (this gates the QoS 1 PUBACK)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    }),
    journalAckDelay: new Histogram({
      name: 'binbridge_journal_ack_delay_seconds',
      help: "From a reading's arrival to its durable commit, when the broker may send its PUBACK (the bridge's share of the device's wait)",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5],
      registers: r,
    }),
    journalBacklog: new Gauge({
      name: 'binbridge_journal_backlog_readings',
      help: 'Readings received and waiting for their durable commit (no PUBACK yet)',
      registers: r,
    }),
    journalLag: new Gauge({
      name: 'binbridge_journal_lag_seconds',
      help: 'How long the oldest reading waiting for its durable commit has waited (0 when none waits)',
      registers: r,
    }),
    journalWorkerRestarts: new Counter({
      name: 'binbridge_journal_worker_restarts_total',
      help: 'Times the journal worker (spool.journal: worker) died and was started again; the readings it had not committed were refused',
      registers: r,
    }),
    spoolDepth: new Gauge({ name: 'binbridge_spool_depth_points', help: 'Points waiting for InfluxDB', registers: r }),
    spoolBytes: new Gauge({ name: 'binbridge_spool_bytes', help: 'Bytes of line protocol waiting for InfluxDB', registers: r }),
    spoolOldestAge: new Gauge({
      name: 'binbridge_spool_oldest_age_seconds',
      help: 'Age of the oldest point waiting for InfluxDB',
      registers: r,
    }),
    spoolFull: new Gauge({
      name: 'binbridge_spool_full',
      help: '1 while the spool is at its size limit and new readings are refused',
      registers: r,
    }),
    alertsOpen: new Gauge({
      name: 'binbridge_alerts_open',
      help: 'Open alerts, by type',
      labelNames: ['type'] as const,
      registers: r,
    }),
    dispatches: new Gauge({
      name: 'binbridge_dispatches',
      help: 'Dispatches (jobs), by status',
      labelNames: ['status'] as const,
      registers: r,
    }),
    eventListenerFailures: new Counter({
      name: 'binbridge_event_listener_failures_total',
      help: 'Listeners of the in-process event bus that threw (logged; the emitter and the other listeners went on), by event',
      labelNames: ['event'] as const,
      registers: r,
    }),
    reportMatches: new Counter({
      name: 'binbridge_report_matches_total',
      help: "Residents' reports matched to a bin, by method (code, location, address, choice, open311)",
      labelNames: ['method'] as const,
      registers: r,
    }),
    reportFeedback: new Counter({
      name: 'binbridge_report_feedback_total',
      help: "Residents' answers to the question the thank-you for a closed report asks, by the bin's zone and answer (up, down)",
      labelNames: ['zone', 'answer'] as const,
      registers: r,
    }),
    influxWrite: new Histogram({
      name: 'binbridge_influx_write_seconds',
      help: 'InfluxDB write request latency',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: r,
    }),
    influxPointsWritten: new Counter({
      name: 'binbridge_influx_points_written_total',
      help: 'Points InfluxDB accepted',
      registers: r,
    }),
    influxFailures: new Counter({
      name: 'binbridge_influx_write_failures_total',
      help: 'Failed InfluxDB writes, by HTTP status or error class',
      labelNames: ['code'] as const,
      registers: r,
    }),
    influxDeadLetters: new Counter({
      name: 'binbridge_influx_dead_letter_points_total',
      help: 'Points InfluxDB refused as invalid (kept in the dead_letter table, not retried)',
      registers: r,
    }),
    whatsappSends: new Counter({
      name: 'binbridge_whatsapp_sends_total',
      help: 'WhatsApp send attempts, by result (sent, retry, fallback, failed) and Graph error code',
      labelNames: ['result', 'code'] as const,
      registers: r,
    }),
    spoolClaimConflicts: new Counter({
      name: 'binbridge_spool_claim_conflicts_total',
      help: "Claims of this instance's InfluxDB writer that found the oldest spooled points held by another instance's writer (SKIP LOCKED passed them by); 0 on one instance",
      registers: r,
    }),
    outboxClaimConflicts: new Counter({
      name: 'binbridge_outbox_claim_conflicts_total',
      help: 'Outbox messages this instance chose to send that another instance had claimed first (or whose claim it lost after the stale bound); 0 on one instance',
      registers: r,
    }),
    noticeMessages: new Counter({
      name: 'binbridge_notice_messages_total',
      help: "Notices' messages to residents by what happened to them (sent, delivered, read, failed, replied, unsubscribed), by notice kind",
      labelNames: ['kind', 'status'] as const,
      registers: r,
    }),
    noticeFigures: new Gauge({
      name: 'binbridge_notice_figure',
      help: 'Per notice: targeted, sent, delivered, read, failed, replied and unsubscribed within 24 h, response_rate',
      labelNames: ['notice_id', 'kind', 'figure'] as const,
      registers: r,
    }),
    whatsappMessagingLimit: new Gauge({
      name: 'binbridge_whatsapp_messaging_limit',
      help: "Meta's messaging limit: unique users reached outside their 24-hour window in the last 24 h (figure=used) and the limit (figure=limit, +Inf: unlimited)",
      labelNames: ['figure'] as const,
      registers: r,
    }),
    whatsappStatuses: new Counter({
      name: 'binbridge_whatsapp_statuses_total',
      help: 'WhatsApp delivery statuses received for outbound messages, by status',
      labelNames: ['status'] as const,
      registers: r,
    }),
    whatsappInbound: new Counter({
      name: 'binbridge_whatsapp_inbound_total',
      help: 'New inbound WhatsApp messages (redeliveries not counted), by type',
      labelNames: ['type'] as const,
      registers: r,
    }),
    whatsappWebhookSkipped: new Counter({
      name: 'binbridge_whatsapp_webhook_skipped_total',
      help: 'Messages and statuses of signed webhook bodies that were not understood (malformed, or a sender we cannot answer) and were skipped',
      registers: r,
    }),
    whatsappInboxFailures: new Counter({
      name: 'binbridge_whatsapp_inbox_failures_total',
      help: 'Inbound WhatsApp messages whose handlers kept failing and that were set aside',
      registers: r,
    }),
    webhookRequests: new Counter({
      name: 'binbridge_webhook_requests_total',
      help: 'WhatsApp webhook requests, by outcome',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    upstreamConnected: new Gauge({
      name: 'binbridge_upstream_connected',
      help: 'Upstream clients (mqtt.upstreams) connected and subscribed, by broker URL without credentials',
      labelNames: ['url'] as const,
      registers: r,
    }),
    leaseHeld: new Gauge({
      name: 'binbridge_lease_held',
      help: 'Whether this instance holds the lease for timed work (1) or not (0), by lease; summed over instances it is 1',
      labelNames: ['lease'] as const,
      registers: r,
    }),
    leaseChanges: new Counter({
      name: 'binbridge_lease_changes_total',
      help: 'Times this instance took (acquired) or let go of (lost) a lease for timed work',
      labelNames: ['lease', 'change'] as const,
      registers: r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** What the gauges that are read on demand count: the structural view of the stores, so metrics stays a leaf. */
export interface GaugeSources {
  binState: { onlineCount(): number };
  alerts: { openCounts(): readonly { type: string; n: number }[] | Promise<readonly { type: string; n: number }[]> };
  dispatches: { countByStatus(): readonly { status: string; n: number }[] | Promise<readonly { status: string; n: number }[]> };
  /** the outbox's count against Meta's messaging limit */
  messagingLimit?: { messagingLimitUsage(): { used: number; limit: number } };
  /** null while InfluxDB is off */
  spool: { stats(): { depth: number; bytes: number; oldestMs: number | null; full: boolean } } | null;
  /** readings waiting for the journal's commit */
  journal?: { backlog(): { readings: number; oldestMs: number | null } };
  now: () => number;
  /** the clock the stores' answers are waited for on (default the wall clock) */
  clock?: Pick<Clock, 'setTimeout'>;
}

const DISPATCH_STATUSES = ['pending', 'sent', 'accepted', 'done', 'escalated', 'cancelled'] as const;

/** How long a scrape waits for the counts the stores keep: a database away must not hold up /metrics. */
export const SCRAPE_STORE_WAIT_MS = 1_000;

/**
 * Sets the gauges that are counted from the stores rather than moved as things happen (devices online, open
 * alerts, jobs by status, the spool), just before a scrape; a status or type with none left reads 0, not its last
 * count. What this process holds in memory is set first; the alerts' and jobs' counts, read from the stores, keep
 * their last values when the stores fail or do not answer within SCRAPE_STORE_WAIT_MS. Resolves whether they were
 * counted; a failure's error is the `cause`.
 */
export async function refreshGauges(metrics: Metrics, from: GaugeSources): Promise<{ counted: boolean; cause?: unknown }> {
  metrics.devicesOnline.set(from.binState.onlineCount());
  if (from.journal) {
    const j = from.journal.backlog();
    metrics.journalBacklog.set(j.readings);
    metrics.journalLag.set(j.oldestMs === null ? 0 : Math.max(0, from.now() - j.oldestMs) / 1000);
  }
  if (from.messagingLimit) {
    const { used, limit } = from.messagingLimit.messagingLimitUsage();
    metrics.whatsappMessagingLimit.set({ figure: 'used' }, used);
    metrics.whatsappMessagingLimit.set({ figure: 'limit' }, limit);
  }
  if (from.spool) {
    const s = from.spool.stats();
    metrics.spoolDepth.set(s.depth);
    metrics.spoolBytes.set(s.bytes);
    metrics.spoolOldestAge.set(s.oldestMs === null ? 0 : (from.now() - s.oldestMs) / 1000);
    metrics.spoolFull.set(s.full ? 1 : 0);
  }
  const counts = Promise.all([from.alerts.openCounts(), from.dispatches.countByStatus()]);
  let answered: Awaited<typeof counts> | null;
  try {
    answered = await within(from.clock ?? realClock, SCRAPE_STORE_WAIT_MS, counts);
  } catch (cause) {
    return { counted: false, cause };
  }
  if (!answered) {
    return { counted: false, cause: new Error(`the stores gave no count within ${SCRAPE_STORE_WAIT_MS} ms`) };
  }
  const [open, jobs] = answered;
  metrics.alertsOpen.reset();
  for (const { type, n } of open) metrics.alertsOpen.set({ type }, n);
  for (const status of DISPATCH_STATUSES) metrics.dispatches.set({ status }, 0);
  for (const { status, n } of jobs) metrics.dispatches.set({ status }, n);
  return { counted: true };
}
