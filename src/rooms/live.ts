import type { FastifyPluginAsync } from 'fastify';
import type { AlertEvents } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { DispatchEvents } from '../dispatch/index.js';
import type { Subscriber } from '../events.js';
import { dispatchView, type Access } from '../http/index.js';
import { LiveEvents, liveEventsRoute } from '../http/live-events.js';
import { liveApiRoutes, livePageRoutes } from '../http/routes/live.js';
import { sandboxRoutes } from '../http/routes/sandbox.js';
import type { Room } from '../lifecycle.js';
import type { BinRegistry } from '../registry/index.js';
import type { ReportStore } from '../reports/index.js';
import type { BinStateStore, ReadingHistory, ReadingJournal } from '../storage/index.js';
import type { Inbox, SandboxTransport } from '../whatsapp/index.js';

/** The live page: its event hub and the routes that serve it (mounted by the edges room). */
export interface LiveRoom extends Room {
  routes: { root: FastifyPluginAsync[]; api: FastifyPluginAsync[] };
}

/**
 * The hub is fed by committed readings (throttled per bin), rule events, job changes, reports (polled each second
 * while a page is open, and at once after a job change or an inbound message) and, in sandbox mode, recorded
 * messages; the chart reads the embedded history. Routes: / and /vendor/*, /api/events (SSE), /api/page,
 * /api/bins/:id/readings, /api/sandbox/inbound (sandbox mode only).
 */
export function liveRoom(deps: {
  config: Config;
  /** who may use the event stream (http/auth.ts) */
  access: Access;
  binState: BinStateStore;
  registry: BinRegistry;
  history: ReadingHistory;
  journal: ReadingJournal;
  reports: ReportStore;
  inbox: Inbox;
  sandbox: SandboxTransport | null;
  events: Subscriber<AlertEvents & DispatchEvents>;
  clock: Clock;
}): LiveRoom {
  const { config, binState, registry, reports, inbox, sandbox, events, clock } = deps;
  const live = new LiveEvents({ statusOf: (id) => binState.get(id)?.status ?? null, clock });
  // the reports' watch starts with the room; a poke before that has nothing to compare with
  let pokeReports = (): void => undefined;
  deps.journal.onCommitted((entries) => live.onReadings(entries.map((e) => e.reading)));
  events.on('alerts.applied', (applied) => live.onAlerts(applied));
  events.on('job.changed', ({ job }) => {
    live.publish('dispatch', dispatchView(job));
    pokeReports();
  });
  inbox.onMessage(() => pokeReports());
  return {
    name: 'live',
    routes: {
      root: [livePageRoutes(), liveEventsRoute(live, { access: deps.access })],
      api: [
        liveApiRoutes({ history: deps.history, findBin: (id) => registry.lookup(id)?.id, timezone: config.timezone, clock }),
        sandboxRoutes({ inbox: sandbox ? inbox : null, clock }),
      ],
    },
    start() {
      pokeReports = live.watchReports(() => reports.list({ limit: 50 })).poke;
      if (sandbox) live.watchSandbox((limit) => sandbox.list({ limit }));
    },
    // the HTTP server's preClose has closed it already at a shutdown; after a failed start it has not
    stop: () => live.close(),
  };
}
