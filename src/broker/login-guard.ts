import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface LoginGuardOptions {
  /** failed logins from one address for one bin in a minute, before that address is told it is blocked */
  failuresPerMin: number;
  /** addresses with failed logins for one bin in a minute, before the bin is blocked for a minute */
  blockAddresses: number;
}

/**
 * Failed device logins, counted two ways.
 *
 * Per address and bin: past the limit, a wrong secret is answered "blocked" rather than "wrong", but a correct
 * one still gets in — many devices share an address behind a carrier's NAT, and one of them guessing must not
 * lock out another.
 *
 * Per bin, the addresses its failures come from: from many, the bin is under attack and blocked for a minute;
 * its logins are then refused without verifying, except for a secret proven since start-up (answered from
 * memory), so its own device, reconnecting, still gets in. Unknown bins are counted alike, so that a block
 * says nothing about which bins exist.
 */
export class LoginGuard {
  private readonly pairs: RateLimiterMemory;
  private readonly bins: RateLimiterMemory;
  private readonly blockAddresses: number;

  constructor(opts: LoginGuardOptions) {
    this.pairs = new RateLimiterMemory({ points: opts.failuresPerMin, duration: 60, blockDuration: 60 });
    this.bins = new RateLimiterMemory({ points: opts.blockAddresses, duration: 60, blockDuration: 60 });
    this.blockAddresses = opts.blockAddresses;
  }

  /** Is the bin blocked because its logins failed from many addresses? */
  async binBlocked(binId: string): Promise<boolean> {
    const r = await this.bins.get(binId);
    return r !== null && r.consumedPoints >= this.blockAddresses;
  }

  /** Counts a failed login; true when this address is past its limit for this bin. */
  async failed(address: string, binId: string): Promise<boolean> {
    let res: RateLimiterRes;
    let over = false;
    try {
      res = await this.pairs.consume(`${address}|${binId}`);
    } catch (rejected) {
      if (!(rejected instanceof RateLimiterRes)) throw rejected;
      res = rejected;
      over = true;
    }
    // the first failure of this address for this bin in the window: one more address against the bin
    if (res.consumedPoints === 1) await this.bins.consume(binId).catch(() => undefined);
    return over;
  }
}
