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
