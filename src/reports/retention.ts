import type { Logger } from '../log.js';
import type { ConversationStore } from './conversation-store.js';
import type { PhotoStore } from './photos.js';
import type { ReportStore } from './report-store.js';

const DAY = 86_400_000;

/**
 * The daily purge: reports older than retention_days (and their photos), and conversations idle for longer than
 * the 24-hour window (their sealed numbers with them; an opt-out is remembered without the number).
 */
export class Retention {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly reports: ReportStore,
    private readonly conversations: ConversationStore,
    private readonly photos: PhotoStore,
    private readonly retentionDays: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    const purge = (): void => {
      try {
        this.purge();
      } catch (err) {
        this.log.error({ err }, 'retention purge failed');
      }
    };
    purge();
    this.timer ??= setInterval(purge, DAY);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  purge(now = this.now()): { reports: number; conversations: number } {
    const { deleted, photos } = this.reports.purge(now - this.retentionDays * DAY);
    for (const p of photos) this.photos.remove(p);
    const conversations = this.conversations.purgeIdle(now - DAY);
    if (deleted > 0 || conversations > 0) this.log.info({ reports: deleted, conversations }, 'retention purge');
    return { reports: deleted, conversations };
  }
}
