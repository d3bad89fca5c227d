/** Meta's pair rate: one message per interval to one user on average, with bursts of up to 45 borrowed from later. */
export const PAIR_BURST = 45;

/**
 * Of the number's throughput, the share that may go at once; the rest refills evenly. A bucket of burst b refilled at
 * r a second lets b + r through in a second, so r = mps − b keeps every second within Meta's limit: a full bucket
 * (after an idle spell) never doubles a second's sends, and a twentieth of the limit goes without waiting.
 */
const BURST_SHARE = 1 / 20;

/**
 * When the next message may go: a token bucket for the whole number that never lets more than `mps` go in any
 * second (Meta's throughput limit, 130429 past it) and, per recipient, a bucket of `pairBurst` messages refilled one per `pairIntervalMs`
 * (the pair rate limit, 131056 past it): a live conversation's replies go at once, a steady stream to one user
 * keeps to the average. Pure bookkeeping on the times it is given; the outbox asks and waits.
 */
export class SendPacer {
  private tokens: number;
  private refilledAt = 0;
  private readonly pairs = new Map<string, { tokens: number; at: number }>();
  /** messages that may go at once */
  private readonly burst: number;
  /** messages a second the bucket refills */
  private readonly rate: number;

  constructor(
    mps: number,
    private readonly pairIntervalMs: number,
    private readonly pairBurst = PAIR_BURST,
  ) {
    this.burst = Math.max(1, Math.floor(mps * BURST_SHARE));
    // below 20 mps a burst of one is more than a twentieth: the refill gives up what it can without stopping
    this.rate = Math.max(mps - this.burst, mps / 2);
    this.tokens = this.burst;
  }

  private refill(now: number): void {
    if (now > this.refilledAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
      this.refilledAt = now;
    }
  }

  /** The recipient's bucket as of `now` (full when unknown). */
  private pair(to: string, now: number): { tokens: number; at: number } {
    const b = this.pairs.get(to);
    if (!b) return { tokens: this.pairBurst, at: now };
    if (now <= b.at) return b;
    return { tokens: Math.min(this.pairBurst, b.tokens + (now - b.at) / this.pairIntervalMs), at: now };
  }

  /** The earliest time at which a message to `to` may be sent (≤ now: at once). */
  readyAt(to: string, now: number): number {
    this.refill(now);
    const bucket = this.tokens >= 1 - 1e-9 ? now : now + Math.ceil(((1 - this.tokens) * 1000) / this.rate);
    if (this.pairIntervalMs <= 0) return bucket;
    const pair = this.pair(to, now);
    // 1e-9: the fractions of a refill add up to a hair under a whole message
    return Math.max(bucket, pair.tokens >= 1 - 1e-9 ? now : pair.at + Math.ceil((1 - pair.tokens) * this.pairIntervalMs - 1e-6));
  }

  /** A message goes now (the number's throughput). */
  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }

  /**
   * Remembers a send made before (at start, from the outbox table). How much of the burst was spent then is not
   * known, so all of it counts as spent: the first message after a restart may wait, but never exceeds the limit.
   */
  seen(to: string, at: number): void {
    if (this.pairIntervalMs <= 0) return;
    this.pairs.set(to, { tokens: 0, at });
  }

  /**
   * A message to `to` was answered at `at` (one recipient has one request on the wire at a time). Meta counts the
   * pair rate on arrival, which is between the launch and the answer: spending the recipient's token at the answer
   * keeps a slow request (connection set-up, a retry) from bringing the next one closer than Meta allows.
   */
  sent(to: string, at: number): void {
    if (this.pairIntervalMs <= 0) return;
    const pair = this.pair(to, at);
    this.pairs.set(to, { tokens: pair.tokens - 1, at: pair.at });
    if (this.pairs.size > 10_000) this.forget(at);
  }

  /** Buckets that have filled up again are the same as none. */
  private forget(now: number): void {
    for (const [to, b] of this.pairs) if (b.tokens + (now - b.at) / this.pairIntervalMs >= this.pairBurst) this.pairs.delete(to);
  }
}
