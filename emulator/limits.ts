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

/** One message per recipient per interval: Meta's (business, consumer) pair rate limit. */
export class PairLimiter {
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly intervalMs: number) {}

  allows(recipient: string, now: number): boolean {
    const at = this.lastSent.get(recipient);
    return at === undefined || now - at >= this.intervalMs;
  }

  record(recipient: string, now: number): void {
    this.lastSent.set(recipient, now);
  }

  clear(): void {
    this.lastSent.clear();
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
