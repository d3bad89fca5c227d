import type { Clock } from '../clock.js';
import type Database from 'better-sqlite3';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import type { BinStateStore } from '../storage/index.js';
import type { Sealer } from '../privacy/index.js';
import type { Inbox } from '../whatsapp/index.js';
import { SqliteConversationStore } from './conversation-store.js';
import { BinMatcher } from './matcher/index.js';
import type { MediaSource, PhotoStore } from './photos.js';
import { SqliteReportStore, type ReportStore } from './report-store.js';
import { ResidentFlow, type ResidentFlowDeps } from './resident-flow.js';
import { Retention } from './retention.js';

/**
 * The residents' side: reports, conversations, the matcher (rebuilt when the registry changes), the purge
 * (which also prunes the WhatsApp inbox, where residents' messages arrive).
 */
export function createReports(deps: {
  db: Database.Database;
  sealer: Sealer;
  registry: BinRegistry;
  binState: BinStateStore;
  outbox: ResidentFlowDeps['outbox'];
  /** pruned on the retention schedule */
  inbox: Pick<Inbox, 'prune'>;
  media: MediaSource | null;
  photos: PhotoStore;
  config: { reports: Config['reports']; template: Config['whatsapp']['templates']['resident'] };
  onReport: (binId: string) => void;
  requestDispatch: (binId: string) => void;
  countMatch: (method: string) => void;
  events?: ResidentFlowDeps['events'];
  subscribe?: ResidentFlowDeps['subscribe'];
  log: Logger;
  clock?: Clock;
}): { store: ReportStore; flow: ResidentFlow; retention: Retention; matcher: () => BinMatcher } {
  const { db, registry, config, photos } = deps;
  let built: { version: number; matcher: BinMatcher } | null = null;
  const matcher = (): BinMatcher => {
    if (!built || built.version !== registry.version) {
      built = { version: registry.version, matcher: new BinMatcher(registry.all(), { snapRadiusM: config.reports.snap_radius_m }) };
    }
    return built.matcher;
  };
  const store = new SqliteReportStore(db);
  const conversations = new SqliteConversationStore(db, deps.sealer);
  const flow = new ResidentFlow({
    db,
    reports: store,
    conversations,
    sealer: deps.sealer,
    matcher,
    registry,
    binState: deps.binState,
    outbox: deps.outbox,
    media: deps.media,
    photos,
    onReport: deps.onReport,
    requestDispatch: deps.requestDispatch,
    config: { template: config.template, maxPhotoBytes: config.reports.max_photo_mb * 1024 * 1024 },
    countMatch: deps.countMatch,
    ...(deps.events ? { events: deps.events } : {}),
    ...(deps.subscribe ? { subscribe: deps.subscribe } : {}),
    log: deps.log,
    clock: deps.clock,
  });
  const retention = new Retention({ reports: store, conversations, photos, retentionDays: config.reports.retention_days, inbox: deps.inbox, log: deps.log, clock: deps.clock });
  return { store, flow, retention, matcher };
}
