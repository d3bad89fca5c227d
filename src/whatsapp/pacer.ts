/**
 * When the next message may go: a token bucket of `mps` per second for the whole number (Meta's throughput
 * limit, 130429 past it) and at most one message per recipient per `pairIntervalMs` (the pair rate limit,
 * 131056 past it). Pure bookkeeping on the times it is given; the outbox asks and waits.
 */
export class SendPacer {
  private tokens: number;
  private refilledAt = 0;
  private readonly lastTo = new Map<string, number>();

  constructor(
    private readonly mps: number,
    private readonly pairIntervalMs: number,
  ) {
    this.tokens = mps;
  }

  private refill(now: number): void {
    if (now > this.refilledAt) {
      this.tokens = Math.min(this.mps, this.tokens + ((now - this.refilledAt) * this.mps) / 1000);
      this.refilledAt = now;
    }
  }

  /** The earliest time at which a message to `to` may be sent (≤ now: at once). */
  readyAt(to: string, now: number): number {
    this.refill(now);
    const bucket = this.tokens >= 1 ? now : now + Math.ceil(((1 - this.tokens) * 1000) / this.mps);
    const last = this.lastTo.get(to);
    return Math.max(bucket, last === undefined ? now : last + this.pairIntervalMs);
  }

  /** A message to `to` goes now. */
  take(to: string, now: number): void {
    this.refill(now);
    this.tokens -= 1;
    this.lastTo.set(to, Math.max(now, this.lastTo.get(to) ?? 0));
    if (this.lastTo.size > 10_000) this.forget(now);
  }

  /** Remembers a send made before (at start, from the outbox table). */
  seen(to: string, at: number): void {
    this.lastTo.set(to, Math.max(at, this.lastTo.get(to) ?? 0));
  }

  private forget(now: number): void {
    for (const [to, at] of this.lastTo) if (now - at >= this.pairIntervalMs) this.lastTo.delete(to);
  }
}
