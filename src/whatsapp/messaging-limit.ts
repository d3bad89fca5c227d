import { SERVICE_WINDOW_MS } from './contacts.js';

/** Meta's messaging limit tiers: unique users a business may message outside their 24-hour window in any moving 24 h. */
export type MessagingLimitTier = 250 | 2000 | 10000 | 100000 | 'unlimited';

/**
 * Meta's messaging limit, kept by the outbox: a message that goes outside the recipient's 24-hour window reaches
 * one of at most `limit` unique users in any moving 24 hours; a user reached in the last 24 hours costs nothing
 * more. Pure bookkeeping on the times it is given (recipients are pseudonyms), like SendPacer.
 *
 * A user is counted from the moment a send is launched (`reserve`), so the requests on the wire at once can never
 * go past the limit together; the count's 24 hours run from the answer (`settle`), which comes after Meta counted
 * the message, so the slot frees no sooner at binbridge than at Meta. A send Graph refused frees its reservation.
 */
export class MessagingLimit {
  /** the last time each user was reached (live: within 24 hours) */
  private readonly reached = new Map<string, number>();
  /** every reach in time order; an entry whose user was reached again since is stale and skipped */
  private readonly order: { to: string; at: number }[] = [];
  private head = 0;
  /** users counted while their send is on the wire */
  private readonly onWire = new Set<string>();

  constructor(
    readonly limit: number,
    private readonly windowMs = SERVICE_WINDOW_MS,
  ) {}

  static of(tier: MessagingLimitTier | number): MessagingLimit {
    return new MessagingLimit(tier === 'unlimited' ? Infinity : tier);
  }

  /** Forgets reaches older than 24 hours and stale entries at the front. */
  private expire(now: number): void {
    while (this.head < this.order.length) {
      const e = this.order[this.head]!;
      const live = this.reached.get(e.to) === e.at;
      if (live && now - e.at < this.windowMs) break;
      if (live) this.reached.delete(e.to);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  private record(to: string, at: number): void {
    this.reached.set(to, at);
    this.order.push({ to, at });
  }

  /** Unique users counted now: reached in the last 24 hours, or on the wire. */
  used(now: number): number {
    this.expire(now);
    let wire = 0;
    for (const to of this.onWire) if (!this.reached.has(to)) wire++;
    return this.reached.size + wire;
  }

  private counted(to: string, now: number): boolean {
    this.expire(now);
    return this.reached.has(to) || this.onWire.has(to);
  }

  /** The earliest time a message outside the window may go to `to` (≤ now: at once). */
  readyAt(to: string, now: number): number {
    if (this.limit === Infinity || this.counted(to, now) || this.used(now) < this.limit) return now;
    // full: the next slot frees when the oldest live reach turns 24 hours old (on-wire sends settle sooner)
    const oldest = this.order[this.head];
    return oldest ? oldest.at + this.windowMs : now + 1000;
  }

  /** A send outside the window is launched to `to`. */
  reserve(to: string): void {
    this.onWire.add(to);
  }

  /** The launched send was answered: accepted, `to` counts for 24 hours from now; refused, the slot is free again. */
  settle(to: string, accepted: boolean, now: number): void {
    this.onWire.delete(to);
    if (accepted) this.record(to, now);
  }

  /** Remembers a reach made before (at start, from the outbox table), in time order. */
  seen(to: string, at: number): void {
    const last = this.reached.get(to);
    if (last === undefined || at > last) this.record(to, at);
  }

  /**
   * When `n` more users not reached yet could all have been reached, sending from `from` at `mps` messages a second
   * with nothing else competing: the first ones as the limit has room, the rest as earlier reaches turn 24 hours
   * old (and, past one limit's worth, as this batch's own do). An estimate; null when there is nothing to send.
   */
  reachAllBy(n: number, from: number, mps: number): number | null {
    if (n <= 0) return null;
    const paced = from + Math.ceil((n * 1000) / mps);
    if (this.limit === Infinity) return paced;
    this.expire(from);
    const frees: number[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const e = this.order[i]!;
      if (this.reached.get(e.to) === e.at) frees.push(e.at + this.windowMs);
    }
    for (const to of this.onWire) if (!this.reached.has(to)) frees.push(from + this.windowMs);
    frees.sort((a, b) => a - b);
    const free = Math.max(0, this.limit - frees.length);
    // the j-th send (from 0) takes the (j mod limit)-th slot to free, in its (j div limit)-th round of 24 hours
    const slot = (k: number): number => (k < free ? from : frees[k - free]!);
    const j = n - 1;
    const at = slot(j % this.limit) + Math.floor(j / this.limit) * this.windowMs;
    return Math.max(paced, at);
  }
}
