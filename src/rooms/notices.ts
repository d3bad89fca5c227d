import type { DecisionWork } from '../decisions.js';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { ZonesAndCrews, BinRegistry } from '../registry/index.js';
import { noticeRoutes } from '../http/routes/notices.js';
import { Notices, type Figures, type Notice } from '../notices/index.js';
import type { Metrics } from '../metrics.js';
import type { Db, Lease } from '../storage/index.js';
import type { Outbox, Sealer } from '../whatsapp/index.js';
import type { Emitter } from '../events.js';

/** What the notices room tells the others: a notice's message changed state (for metrics and InfluxDB). */
export interface NoticeEvents {
  'notice.counted': { noticeId: number; kind: Notice['kind']; status: string; at: number; figures: Figures };
}

/** Residents' subscriptions by chat and operators' notices to them, sent through the outbox. */
export interface NoticesRoom extends Room {
  notices: Notices;
  routes: FastifyPluginAsync;
}

export function noticesRoom(deps: { config: Config; db: Db; decisions: DecisionWork; lease: Lease; sealer: Sealer; registry: BinRegistry; zonesAndCrews: ZonesAndCrews; outbox: Outbox; metrics: Metrics; events: Emitter<NoticeEvents>; log: Logger; clock: Clock }): NoticesRoom {
  const { clock } = deps;
  const log = deps.log.child({ module: 'notices' });
  const notices = new Notices({
    decisions: deps.decisions,
    lease: deps.lease,
    sealer: deps.sealer,
    registry: deps.registry,
    zones: () => deps.zonesAndCrews.zones(),
    outbox: deps.outbox,
    template: deps.config.whatsapp.templates.notice,
    limits: { quietHours: deps.config.notices.quiet_hours, maxPerResidentPerWeek: deps.config.notices.max_per_resident_per_week, timeZone: deps.config.timezone },
    onCounted: ({ notice, status, figures }) => {
      // `figures`: no new event, the figures brought up to date after a burst
      if (status !== 'figures') deps.metrics.noticeMessages.inc({ kind: notice.kind, status });
      for (const [figure, v] of Object.entries(figures)) {
        if (typeof v === 'number') deps.metrics.noticeFigures.set({ notice_id: String(notice.id), kind: notice.kind, figure }, v);
      }
      deps.events.emit('notice.counted', { noticeId: notice.id, kind: notice.kind, status, at: clock.now(), figures });
    },
    log,
    clock,
  });
  const failed = (err: unknown) => log.error({ err }, 'could not record what happened to a notice message');
  // on SQLite what these record joins the outbox's or the inbox's commit of the outcome (see Notices.record)
  deps.outbox.onResult((r) => void notices.onResult(r).catch(failed));
  deps.outbox.onStatus((s) => void notices.onStatus(s).catch(failed));
  // the lease holder starts and sends notices: one that takes it over carries on at once
  const unwatch = deps.lease.onChange((holds) => holds && notices.wake());
  return {
    name: 'notices',
    notices,
    routes: noticeRoutes({ notices, clock }),
    start: () => notices.start(),
    stop: async () => {
      unwatch();
      await notices.stop();
    },
  };
}
