import type { DecisionWork } from '../decisions.js';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { ZonesAndCrews, BinRegistry } from '../registry/index.js';
import { noticeRoutes } from '../http/routes/notices.js';
import { Notices, SqliteNoticeStore, type Figures, type Notice, type NoticeStore } from '../notices/index.js';
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
  store: NoticeStore;
  routes: FastifyPluginAsync;
}

export function noticesRoom(deps: { config: Config; db: Db; decisions: DecisionWork; lease: Lease; sealer: Sealer; registry: BinRegistry; zonesAndCrews: ZonesAndCrews; outbox: Outbox; metrics: Metrics; events: Emitter<NoticeEvents>; log: Logger; clock: Clock }): NoticesRoom {
  const { db, clock } = deps;
  const store = new SqliteNoticeStore(db, deps.sealer);
  const notices = new Notices({
    store,
    sealer: deps.sealer,
    registry: deps.registry,
    zones: () => deps.zonesAndCrews.zones(),
    outbox: deps.outbox,
    transaction: (fn) => db.transaction(fn).immediate(),
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
    log: deps.log.child({ module: 'notices' }),
    clock,
  });
  deps.outbox.onResult((r) => notices.onResult(r));
  deps.outbox.onStatus((s) => notices.onStatus(s));
  return {
    name: 'notices',
    notices,
    store,
    routes: noticeRoutes({ notices, store, clock }),
    start: () => notices.start(),
    stop: () => notices.stop(),
  };
}
