import { describe, expect, it } from 'vitest';
import { SendPacer } from '../../../src/whatsapp/pacer.js';

describe('SendPacer, per recipient (Meta: one per interval on average, bursts of up to 45)', () => {
  it("lets a conversation's replies go at once, up to the burst, then one per interval", () => {
    const p = new SendPacer(1000, 6000, 3);
    for (let i = 0; i < 3; i++) {
      expect(p.readyAt('316', 100 * i)).toBe(100 * i);
      p.take(100 * i);
      p.sent('316', 100 * i);
    }
    // the burst is spent: the fourth waits for one interval's worth of refill, counted from the first answer
    expect(p.readyAt('316', 300)).toBe(6000);
    expect(p.readyAt('317', 300)).toBe(300);
    p.take(6000);
    p.sent('316', 6000);
    expect(p.readyAt('316', 6000)).toBe(12_000);
  });

  it('defaults to a burst of 45', () => {
    const p = new SendPacer(1000, 6000);
    for (let i = 0; i < 45; i++) p.sent('316', 0);
    expect(p.readyAt('316', 0)).toBe(6000);
  });

  it('counts a send remembered from before a restart as spending the whole burst (never over the limit)', () => {
    const p = new SendPacer(1000, 6000, 45);
    p.seen('316', 1000);
    expect(p.readyAt('316', 1000)).toBe(7000);
  });
});

describe('SendPacer, the whole number (Meta: mps messages a second, 130429 past it)', () => {
  /** Sends to new recipients as fast as the pacer allows, from `start`, for `ms`; returns the send times. */
  function flood(p: SendPacer, start: number, ms: number): number[] {
    const times: number[] = [];
    let now = start;
    let n = 0;
    while (now < start + ms) {
      const at = p.readyAt(`r${n}`, now);
      if (at > now) {
        now = at;
        continue;
      }
      p.take(now);
      times.push(now);
      n++;
    }
    return times;
  }

  const maxInAnySecond = (times: number[]): number => {
    let max = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      max = Math.max(max, i - j + 1);
    }
    return max;
  };

  it('never sends more than mps in any second, also after an idle spell (a full bucket is not a second burst)', () => {
    for (const mps of [20, 80, 250, 1000]) {
      const p = new SendPacer(mps, 0);
      const times = [...flood(p, 0, 3000), ...flood(p, 10_000, 3000)];
      expect(maxInAnySecond(times), `mps ${mps}`).toBeLessThanOrEqual(mps);
      // and it still uses at least 90 % of the limit
      expect(times.filter((t) => t >= 10_000).length, `mps ${mps}`).toBeGreaterThanOrEqual(Math.floor(mps * 3 * 0.9));
    }
  });
});
