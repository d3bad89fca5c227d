import { realClock, type Clock, type Timer } from '../../clock.js';
import { orderTs } from '../../rules/index.js';
import type { LatestReading } from '../../storage/index.js';
import { readingView } from './views.js';

export interface ReadingWindowOptions {
  /** where the readings that pass go (the hub) */
  publish: (data: ReturnType<typeof readingView>) => void;
  /** at most one reading per bin in this time; the newest one in between is sent when it ends */
  throttleMs?: number;
  /** the device's online/offline status, sent with each reading */
  statusOf?: (binId: string) => string | null;
  clock?: Clock;
}

interface BinWindow {
  lastSent: number;
  /** the order time of the newest reading sent: an older one (a backlog) is not news to the map */
  lastAt: number;
  pending: LatestReading | null;
}

/**
 * The recent readings per bin, as the live map wants them: committed readings (the journal) pass at most once per
 * bin per throttle time, the newest one held back is sent when that time ends, and a backlog older than what the
 * map shows is dropped. (The chart's history is not kept here: `GET /api/bins/:id/readings` reads SQLite.)
 */
export class ReadingWindow {
  private readonly bins = new Map<string, BinWindow>();
  private readonly throttleMs: number;
  private readonly clock: Clock;
  private flushTimer: Timer | null = null;
  private closed = false;

  constructor(private readonly opts: ReadingWindowOptions) {
    this.throttleMs = opts.throttleMs ?? 1000;
    this.clock = opts.clock ?? realClock;
  }

  onReadings(readings: readonly LatestReading[]): void {
    if (this.closed) return;
    const now = this.clock.now();
    for (const r of readings) {
      const w = this.bins.get(r.binId) ?? { lastSent: -Infinity, lastAt: -Infinity, pending: null };
      this.bins.set(r.binId, w);
      const at = orderTs(r);
      if (at < w.lastAt || (w.pending && at < orderTs(w.pending))) continue; // a backlog: the map shows the newest state
      if (now - w.lastSent >= this.throttleMs) {
        w.pending = null;
        this.send(r, w, now);
      } else {
        w.pending = r;
        this.scheduleFlush();
      }
    }
  }

  /** Drops what is held back and its timer. */
  close(): void {
    this.closed = true;
    this.flushTimer?.clear();
    this.flushTimer = null;
  }

  private send(r: LatestReading, w: BinWindow, now: number): void {
    w.lastSent = now;
    w.lastAt = orderTs(r);
    this.opts.publish(readingView(r, this.opts.statusOf?.(r.binId) ?? 'online'));
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = null;
      const now = this.clock.now();
      let waiting = false;
      for (const w of this.bins.values()) {
        if (!w.pending) continue;
        if (now - w.lastSent >= this.throttleMs) {
          const r = w.pending;
          w.pending = null;
          this.send(r, w, now);
        } else waiting = true;
      }
      if (waiting) this.scheduleFlush();
    }, Math.max(50, Math.floor(this.throttleMs / 4)));
    this.flushTimer.unref();
  }
}
