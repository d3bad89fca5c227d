import { describe, expect, it } from 'vitest';
import { ConnectLimit } from '../../../src/broker/connect-limit.js';
import { ManualClock } from '../../../src/clock.js';

describe('ConnectLimit', () => {
  it('admits perSecond connections from an address; a proven login gives its point back, up to provenPerMin a minute per bin', async () => {
    const clock = new ManualClock(1_000_000);
    const limit = new ConnectLimit({ perSecond: 2, provenPerMin: 3, clock });
    expect([await limit.admit('10.0.0.9'), await limit.admit('10.0.0.9'), await limit.admit('10.0.0.9')]).toEqual([true, true, false]);
    expect([await limit.admit('10.0.0.1'), await limit.admit('10.0.0.1')]).toEqual([true, true]); // another address: its own points

    // many devices behind the one address, each proving its secret: no end to them
    for (let i = 0; i < 50; i++) {
      limit.loggedIn('10.0.0.1', `UTR-${i}`);
      expect(await limit.admit('10.0.0.1')).toBe(true);
    }
    // one device logging in again and again (a stolen secret used to flood): three a minute come back, then no more
    limit.loggedIn('10.0.0.1', 'UTR-0'); // its second and third this minute
    limit.loggedIn('10.0.0.1', 'UTR-0');
    expect([await limit.admit('10.0.0.1'), await limit.admit('10.0.0.1')]).toEqual([true, true]);
    limit.loggedIn('10.0.0.1', 'UTR-0');
    expect(await limit.admit('10.0.0.1')).toBe(false);
    // from another address alike, until the minute is over; then its allowance is whole again
    expect([await limit.admit('10.0.0.3'), await limit.admit('10.0.0.3')]).toEqual([true, true]);
    limit.loggedIn('10.0.0.3', 'UTR-0');
    await clock.advance(60_000);
    limit.loggedIn('10.0.0.3', 'UTR-0');
    expect(await limit.admit('10.0.0.3')).toBe(true);
    expect(await limit.admit('10.0.0.3')).toBe(false);
  });
});
