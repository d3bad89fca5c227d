export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The 24-hour customer-service windows: opened by each message a user sends to the business. */
export class CustomerWindows {
  private readonly lastInbound = new Map<string, number>();

  constructor(private readonly windowMs = CUSTOMER_SERVICE_WINDOW_MS) {}

  open(user: string, at: number): void {
    this.lastInbound.set(user, at);
  }

  close(user: string): void {
    this.lastInbound.delete(user);
  }

  isOpen(user: string, now: number): boolean {
    const at = this.lastInbound.get(user);
    return at !== undefined && now - at < this.windowMs;
  }

  /** When the window closes, or undefined when it is not open. */
  closesAt(user: string, now: number): number | undefined {
    return this.isOpen(user, now) ? this.lastInbound.get(user)! + this.windowMs : undefined;
  }

  clear(): void {
    this.lastInbound.clear();
  }
}

/**
 * Meta's (business, consumer) pair rate limit: one message per recipient per interval on average, with bursts of
 * up to `burst` messages borrowed from later (a bucket of `burst`, refilled one per interval).
 */
export class PairLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly burst = 45,
  ) {}

  private bucket(recipient: string, now: number): { tokens: number; at: number } {
    const b = this.buckets.get(recipient);
    if (!b) return { tokens: this.burst, at: now };
    return { tokens: Math.min(this.burst, b.tokens + Math.max(0, now - b.at) / this.intervalMs), at: Math.max(now, b.at) };
  }

  allows(recipient: string, now: number): boolean {
    return this.intervalMs <= 0 || this.bucket(recipient, now).tokens >= 1 - 1e-9;
  }

  record(recipient: string, now: number): void {
    if (this.intervalMs <= 0) return;
    const b = this.bucket(recipient, now);
    this.buckets.set(recipient, { tokens: b.tokens - 1, at: b.at });
  }

  clear(): void {
    this.buckets.clear();
  }
}

/** At most `perSecond` messages in any sliding second for the business number. */
export class ThroughputLimiter {
  private readonly times: number[] = [];

  constructor(private readonly perSecond: number) {}

  allows(now: number): boolean {
    while (this.times.length > 0 && now - this.times[0]! >= 1000) this.times.shift();
    return this.times.length < this.perSecond;
  }

  record(now: number): void {
    this.times.push(now);
  }

  clear(): void {
    this.times.length = 0;
  }
}

/**
 * Meta's messaging limit: messages delivered outside a customer-service window reach at most `limit` unique users
 * in any moving 24 hours (business portfolio level; one number here). A user reached in the last 24 hours costs
 * nothing more. Past the limit Meta documents no error of its own: the request is accepted and the message is not
 * delivered (a `failed` status; see GraphEmulator.handleSend).
 */
export class MessagingLimit {
  /** the last time each user was reached outside a window */
  private readonly reached = new Map<string, number>();

  constructor(
    readonly limit: number,
    private readonly windowMs = CUSTOMER_SERVICE_WINDOW_MS,
  ) {}

  /** Unique users reached in the 24 hours before `now`. */
  used(now: number): number {
    let n = 0;
    for (const [user, at] of this.reached) {
      if (now - at < this.windowMs) n++;
      else this.reached.delete(user);
    }
    return n;
  }

  allows(user: string, now: number): boolean {
    const at = this.reached.get(user);
    if (at !== undefined && now - at < this.windowMs) return true;
    return this.used(now) < this.limit;
  }

  record(user: string, now: number): void {
    this.reached.set(user, now);
  }

  clear(): void {
    this.reached.clear();
  }
}
