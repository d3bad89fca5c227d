import type { FastifyPluginAsync } from 'fastify';
import type { AlertEvents } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { DispatchEvents } from '../dispatch/index.js';
import type { Subscriber } from '../events.js';
import { dispatchView, reportView, type Access } from '../http/index.js';
import { alertEventView, LiveHub, liveEventsRoute, ReadingWindow, SandboxFeed } from '../http/live/index.js';
import { sandboxMessageView } from '../http/routes/messages.js';
import { liveApiRoutes, livePageRoutes } from '../http/routes/live.js';
import { sandboxRoutes } from '../http/routes/sandbox.js';
import type { Room } from '../lifecycle.js';
import type { BinRegistry } from '../registry/index.js';
import type { ReportEvents } from '../reports/index.js';
import type { BinStateStore, ReadingHistory, ReadingJournal } from '../storage/index.js';
import type { Inbox, MessageEvents, SandboxTransport } from '../whatsapp/index.js';

/** The live page: its hub and reading window, and the routes that serve it (mounted by the edges room). */
export interface LiveRoom extends Room {
  routes: { root: FastifyPluginAsync[]; api: FastifyPluginAsync[] };
}

/**
 * Everything the page shows arrives as it happens, nothing is polled: committed readings pass the reading window
 * (throttled per bin); rule events, job changes and report changes come from the event bus; in sandbox mode, each
 * message the outbox sent brings the sandbox's newly recorded messages. The chart reads the embedded history.
 * Routes: / and /vendor/*, /api/events (SSE), /api/page, /api/bins/:id/readings, /api/sandbox/inbound (sandbox mode
 * only).
 */
export function liveRoom(deps: {
  config: Config;
  /** who may use the event stream (http/auth.ts) */
  access: Access;
  binState: BinStateStore;
  registry: BinRegistry;
  history: ReadingHistory;
  journal: ReadingJournal;
  inbox: Inbox;
  sandbox: SandboxTransport | null;
  events: Subscriber<AlertEvents & DispatchEvents & ReportEvents & MessageEvents>;
  clock: Clock;
}): LiveRoom {
  const { config, binState, registry, inbox, sandbox, events, clock } = deps;
  const hub = new LiveHub();
  const readings = new ReadingWindow({ publish: (r) => hub.publish('reading', r), statusOf: (id) => binState.get(id)?.status ?? null, clock });
  const feed = sandbox ? new SandboxFeed((limit) => sandbox.list({ limit })) : null;
  deps.journal.onCommitted((entries) => readings.onReadings(entries.map((e) => e.reading)));
  events.on('alerts.applied', (applied) => {
    for (const e of applied) hub.publish('alert', alertEventView(e));
  });
  events.on('job.changed', ({ job }) => hub.publish('dispatch', dispatchView(job)));
  events.on('report.changed', ({ report }) => hub.publish('report', reportView(report)));
  events.on('message.status', ({ stage, status }) => {
    // read only while someone watches: the sandbox's rows are sealed, and opening them costs
    if (!feed || stage !== 'send' || status !== 'sent' || hub.subscribers === 0) return;
    for (const m of feed.fresh()) hub.publish('message', sandboxMessageView(m));
  });
  return {
    name: 'live',
    routes: {
      root: [livePageRoutes(), liveEventsRoute(hub, { access: deps.access, clock })],
      api: [
        liveApiRoutes({ history: deps.history, findBin: (id) => registry.lookup(id)?.id, timezone: config.timezone, clock }),
        sandboxRoutes({ inbox: sandbox ? inbox : null, clock }),
      ],
    },
    // what the sandbox recorded before is not news
    start: () => feed?.prime(),
    // the HTTP server's preClose has closed the hub already at a shutdown; after a failed start it has not
    stop() {
      readings.close();
      hub.close();
    },
  };
}
