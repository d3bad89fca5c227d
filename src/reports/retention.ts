import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Lease } from '../storage/index.js';
import type { Inbox } from '../whatsapp/index.js';
import type { ConversationStore } from './conversation-store.js';
import type { PhotoStore } from './photos.js';
import type { ReportStore } from './report-store.js';

const DAY = 86_400_000;

export interface RetentionOptions {
  /** the decisions' unit of work: the reports and the conversations are purged in one of its transactions */
  work: { tx<R>(fn: (t: { reports: ReportStore; conversations: ConversationStore }) => Promise<R>): Promise<R> };
  photos: PhotoStore;
  retentionDays: number;
  /** the WhatsApp inbox: sealed bodies and message ids past their age (see Inbox.prune) */
  inbox: Pick<Inbox, 'prune'>;
  /** timed work runs only on the instance holding the lease (instances sharing a PostgreSQL store); none: always */
  lease?: Pick<Lease, 'holds' | 'onChange'>;
  log: Logger;
  clock?: Clock;
}

/**
 * The daily purge: reports older than retention_days (and their photos), conversations idle for longer than
 * the 24-hour window (their sealed numbers with them; an opt-out is remembered without the number), and the
 * WhatsApp inbox's finished rows (bodies after 3 days, the message ids that dedupe redeliveries after 8).
 * Where instances share a store, only the lease's holder purges (at start, when it takes the lease, then daily).
 */
export class Retention {
  private timer: Timer | null = null;
  private unwatch: (() => void) | null = null;
  private readonly clock: Clock;

  constructor(private readonly opts: RetentionOptions) {
    this.clock = opts.clock ?? realClock;
  }

  start(): void {
    const purge = (): void => {
      if (this.opts.lease && !this.opts.lease.holds()) return;
      void this.purge().catch((err: unknown) => this.opts.log.error({ err }, 'retention purge failed'));
    };
    purge();
    this.timer ??= this.clock.setInterval(purge, DAY).unref();
    this.unwatch ??= this.opts.lease?.onChange((holds) => {
      if (holds) purge();
    }) ?? null;
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
    this.unwatch?.();
    this.unwatch = null;
  }

  async purge(now = this.clock.now()): Promise<{ reports: number; conversations: number; inbox: Awaited<ReturnType<Inbox['prune']>> }> {
    const { work, photos, retentionDays, inbox, log } = this.opts;
    const { deleted, gone, idle } = await work.tx(async (t) => {
      const purged = await t.reports.purge(now - retentionDays * DAY);
      return { deleted: purged.deleted, gone: purged.photos, idle: await t.conversations.purgeIdle(now - DAY) };
    });
    // once their reports are gone for good: a photo never outlives its report's purge by more than this
    for (const p of gone) await photos.remove(p);
    const pruned = await inbox.prune(now);
    if (deleted > 0 || idle > 0 || Object.values(pruned).some((n) => n > 0)) {
      log.info({ event: 'retention_purge', reports: deleted, conversations: idle, inbox: pruned }, 'retention purge');
    }
    return { reports: deleted, conversations: idle, inbox: pruned };
  }
}
