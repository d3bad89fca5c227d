import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Inbox } from '../whatsapp/index.js';
import type { ConversationStore } from './conversation-store.js';
import type { PhotoStore } from './photos.js';
import type { ReportStore } from './report-store.js';

const DAY = 86_400_000;

export interface RetentionOptions {
  reports: ReportStore;
  conversations: ConversationStore;
  photos: PhotoStore;
  retentionDays: number;
  /** the WhatsApp inbox: sealed bodies and message ids past their age (see Inbox.prune) */
  inbox: Pick<Inbox, 'prune'>;
  log: Logger;
  clock?: Clock;
}

/**
 * The daily purge: reports older than retention_days (and their photos), conversations idle for longer than
 * the 24-hour window (their sealed numbers with them; an opt-out is remembered without the number), and the
 * WhatsApp inbox's finished rows (bodies after 3 days, the message ids that dedupe redeliveries after 8).
 */
export class Retention {
  private timer: Timer | null = null;
  private readonly clock: Clock;

  constructor(private readonly opts: RetentionOptions) {
    this.clock = opts.clock ?? realClock;
  }

  start(): void {
    const purge = (): void => void this.purge().catch((err: unknown) => this.opts.log.error({ err }, 'retention purge failed'));
    purge();
    this.timer ??= this.clock.setInterval(purge, DAY).unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  async purge(now = this.clock.now()): Promise<{ reports: number; conversations: number; inbox: Awaited<ReturnType<Inbox['prune']>> }> {
    const { reports, conversations, photos, retentionDays, inbox, log } = this.opts;
    const { deleted, photos: gone } = reports.purge(now - retentionDays * DAY);
    for (const p of gone) photos.remove(p);
    const idle = conversations.purgeIdle(now - DAY);
    const pruned = await inbox.prune(now);
    if (deleted > 0 || idle > 0 || Object.values(pruned).some((n) => n > 0)) {
      log.info({ event: 'retention_purge', reports: deleted, conversations: idle, inbox: pruned }, 'retention purge');
    }
    return { reports: deleted, conversations: idle, inbox: pruned };
  }
}
