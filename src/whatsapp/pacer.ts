/** Meta's pair rate: one message per interval to one user on average, with bursts of up to 45 borrowed from later. */
export const PAIR_BURST = 45;

/**
 * When the next message may go: for the whole number at most `mps` messages in any second (Meta's throughput
 * limit, 130429 past it) and, per recipient, a bucket of `pairBurst` messages refilled one per `pairIntervalMs`
 * (the pair rate limit, 131056 past it): a live conversation's replies go at once, a steady stream to one user
 * keeps to the average. Pure bookkeeping on the times it is given; the outbox asks and waits.
 *
 * Meta counts a message when it arrives, somewhere between its launch and its answer. So a message counts from
 * its launch (`take`) until a second after its answer (`sent`): a second's worth of launches can never arrive
 * within one second, however the requests' round trips vary. (A token bucket of `mps` would let up to twice
 * `mps` through in one second, its full bucket and a second's refill, and Graph refuses the rest.)
 */
export class SendPacer {
  /** launched, not answered yet */
  private onWire = 0;
  /** answer times of the last second, oldest first */
  private readonly answered: number[] = [];
  private readonly pairs = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly mps: number,
    private readonly pairIntervalMs: number,
    private readonly pairBurst = PAIR_BURST,
  ) {}

  private expire(now: number): void {
    let n = 0;
    while (n < this.answered.length && this.answered[n]! <= now - 1000) n++;
    if (n > 0) this.answered.splice(0, n);
  }

  /** The earliest time at which the number may launch one more message (Infinity: when one on the wire is answered). */
  private numberReadyAt(now: number): number {
    this.expire(now);
    const counted = this.onWire + this.answered.length;
    if (counted < this.mps) return now;
    if (this.onWire >= this.mps) return Infinity;
    return this.answered[counted - this.mps]! + 1000;
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
    const bucket = this.numberReadyAt(now);
    if (this.pairIntervalMs <= 0) return bucket;
    const pair = this.pair(to, now);
    // 1e-9: the fractions of a refill add up to a hair under a whole message
    return Math.max(bucket, pair.tokens >= 1 - 1e-9 ? now : pair.at + Math.ceil((1 - pair.tokens) * this.pairIntervalMs - 1e-6));
  }

  /** A message is launched now; `sent` must follow, whatever its outcome. */
  take(): void {
    this.onWire++;
  }

  /** A message `take` counted was not launched after all (another instance claimed it first). */
  cancel(): void {
    this.onWire = Math.max(0, this.onWire - 1);
  }

  /**
   * Another instance sent to `to` at `at` (read from the shared outbox table): it counts toward the number's rate in
   * its second, and spends a token of the recipient's bucket, as this instance's own answered sends do.
   */
  seenElsewhere(to: string, at: number): void {
    let i = this.answered.length;
    while (i > 0 && this.answered[i - 1]! > at) i--;
    this.answered.splice(i, 0, at);
    if (this.pairIntervalMs <= 0) return;
    const b = this.pairs.get(to);
    const pair = !b ? { tokens: this.pairBurst, at } : at <= b.at ? b : { tokens: Math.min(this.pairBurst, b.tokens + (at - b.at) / this.pairIntervalMs), at };
    this.pairs.set(to, { tokens: pair.tokens - 1, at: pair.at });
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
   * A message to `to` was answered at `at`, or failed (one recipient has one request on the wire at a time). Meta
   * counts on arrival, which is between the launch and the answer: spending the recipient's token, and the
   * number's second, at the answer keeps a slow request (connection set-up, a retry) from bringing the next one
   * closer than Meta allows.
   */
  sent(to: string, at: number): void {
    this.onWire = Math.max(0, this.onWire - 1);
    this.answered.push(at);
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
