import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import type { BinStateStore, Lease } from '../storage/index.js';
import type { Sealer } from '../privacy/index.js';
import type { Inbox } from '../whatsapp/index.js';
import { BinMatcher } from './matcher/index.js';
import type { MediaSource, PhotoStore } from './photos.js';
import type { ReportStore } from './report-store.js';
import { ResidentFlow, type ResidentFlowDeps } from './resident-flow.js';
import { Retention } from './retention.js';

/**
 * The reports outside a transaction (the API, Open311), on the decisions' database as it is at each call: on
 * PostgreSQL the pool exists once the store room has started, after this is built.
 */
function readReports(decisions: ResidentFlowDeps['decisions']): ReportStore {
  return new Proxy({} as ReportStore, {
    get(_target, method) {
      return (...args: unknown[]): unknown => {
        const store = decisions.read.reports;
        return (Reflect.get(store, method) as (...a: unknown[]) => unknown).apply(store, args);
      };
    },
  });
}

/**
 * The residents' side: the flow over the decisions' reports and conversations, the matcher (rebuilt when the
 * registry changes), the purge (which also prunes the WhatsApp inbox, where residents' messages arrive).
 */
export function createReports(deps: {
  decisions: ResidentFlowDeps['decisions'];
  sealer: Sealer;
  registry: BinRegistry;
  binState: BinStateStore;
  inWindow: ResidentFlowDeps['inWindow'];
  /** pruned on the retention schedule */
  inbox: Pick<Inbox, 'prune'>;
  /** the retention runs only while this instance holds it */
  lease?: Pick<Lease, 'holds' | 'onChange'>;
  media: MediaSource | null;
  photos: PhotoStore;
  config: { reports: Config['reports']; template: Config['whatsapp']['templates']['resident'] };
  onReport: ResidentFlowDeps['onReport'];
  requestDispatch: ResidentFlowDeps['requestDispatch'];
  countMatch: (method: string) => void;
  events?: ResidentFlowDeps['events'];
  subscribe?: ResidentFlowDeps['subscribe'];
  log: Logger;
  clock?: Clock;
}): { store: ReportStore; flow: ResidentFlow; retention: Retention; matcher: () => BinMatcher } {
  const { decisions, registry, config, photos } = deps;
  let built: { version: number; matcher: BinMatcher } | null = null;
  const matcher = (): BinMatcher => {
    if (!built || built.version !== registry.version) {
      built = { version: registry.version, matcher: new BinMatcher(registry.all(), { snapRadiusM: config.reports.snap_radius_m }) };
    }
    return built.matcher;
  };
  const flow = new ResidentFlow({
    decisions,
    sealer: deps.sealer,
    matcher,
    registry,
    binState: deps.binState,
    inWindow: deps.inWindow,
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
  const retention = new Retention({
    work: decisions,
    photos,
    retentionDays: config.reports.retention_days,
    inbox: deps.inbox,
    ...(deps.lease ? { lease: deps.lease } : {}),
    log: deps.log,
    clock: deps.clock,
  });
  return { store: readReports(decisions), flow, retention, matcher };
}
