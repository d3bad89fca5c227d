import { RateLimiterMemory } from 'rate-limiter-flexible';
import { realClock, type Clock } from '../clock.js';

export interface ConnectLimitOptions {
  /** connection attempts per second from one address that do not prove a device secret (mqtt.connect_rate_per_ip) */
  perSecond: number;
  /** logins of one device in a minute that give their connection's point back */
  provenPerMin?: number;
  clock?: Clock;
}

/**
 * The connection-rate limit per address, sized for a city's own devices. Each CONNECT takes a point from its
 * address; a login with a valid device secret gives it back. After a restart every device of the city
 * reconnects within seconds, thousands of them behind a carrier's few NAT addresses: counted as attempts they
 * would be refused for minutes (each refusal adds the device's own backoff). What the limit is for — a flood of
 * connections from one address, anonymous or guessing — proves no secret and stays limited. A device that
 * logs in more than provenPerMin times a minute (a stolen secret used to flood) gets no more points back.
 */
export class ConnectLimit {
  private readonly perAddress: RateLimiterMemory;
  private readonly provenPerMin: number;
  private readonly clock: Clock;
  /** proven logins per bin in the current minute; cleared when the minute is over (no timer per bin) */
  private proven = new Map<string, number>();
  private minuteStart: number;

  constructor(opts: ConnectLimitOptions) {
    this.perAddress = new RateLimiterMemory({ points: opts.perSecond, duration: 1 });
    this.provenPerMin = opts.provenPerMin ?? 4;
    this.clock = opts.clock ?? realClock;
    this.minuteStart = this.clock.now();
  }

  /** Takes a point from the address; false when it has none left this second. */
  admit(address: string): Promise<boolean> {
    return this.perAddress.consume(address).then(
      () => true,
      (rejected: unknown) => {
        if (rejected instanceof Error) throw rejected;
        return false;
      },
    );
  }

  /** A login proved its device secret: its connection's point goes back to the address (within the bin's allowance). */
  loggedIn(address: string, binId: string): void {
    const now = this.clock.now();
    if (now - this.minuteStart >= 60_000) {
      this.proven = new Map();
      this.minuteStart = now;
    }
    const n = (this.proven.get(binId) ?? 0) + 1;
    this.proven.set(binId, n);
    if (n <= this.provenPerMin) void this.perAddress.reward(address, 1);
  }
}
