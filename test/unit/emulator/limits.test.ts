import { describe, expect, it } from 'vitest';
import { CUSTOMER_SERVICE_WINDOW_MS, CustomerWindows, MessagingLimit, PairLimiter, ThroughputLimiter } from '../../../emulator/limits.js';

describe('CustomerWindows', () => {
  it('is open for 24 hours after the last message from the user', () => {
    const w = new CustomerWindows();
    expect(w.isOpen('316', 0)).toBe(false);
    w.open('316', 1000);
    expect(w.isOpen('316', 1000 + CUSTOMER_SERVICE_WINDOW_MS - 1)).toBe(true);
    expect(w.isOpen('316', 1000 + CUSTOMER_SERVICE_WINDOW_MS)).toBe(false);
    expect(w.closesAt('316', 2000)).toBe(1000 + CUSTOMER_SERVICE_WINDOW_MS);
    w.open('316', 5000);
    expect(w.isOpen('316', 1000 + CUSTOMER_SERVICE_WINDOW_MS)).toBe(true);
    w.close('316');
    expect(w.isOpen('316', 6000)).toBe(false);
  });
});

describe('PairLimiter', () => {
  it('allows a burst of 45 at once, then one per interval (Meta: bursts borrowed from later)', () => {
    const p = new PairLimiter(6000);
    for (let i = 0; i < 45; i++) {
      expect(p.allows('316', 1000)).toBe(true);
      p.record('316', 1000);
    }
    expect(p.allows('316', 1000)).toBe(false);
    expect(p.allows('316', 6999)).toBe(false);
    expect(p.allows('316', 7000)).toBe(true);
    p.record('316', 7000);
    expect(p.allows('316', 7000)).toBe(false);
  });

  it.each([
    [0, false],
    [5999, false],
    [6000, true],
  ])('with a burst of 1, a second message %i ms later is allowed: %s', (gap, allowed) => {
    const p = new PairLimiter(6000, 1);
    p.record('316', 1000);
    expect(p.allows('316', 1000 + gap)).toBe(allowed);
    expect(p.allows('317', 1000 + gap)).toBe(true);
  });
});

describe('ThroughputLimiter', () => {
  it('allows `perSecond` messages in any sliding second', () => {
    const t = new ThroughputLimiter(3);
    for (const at of [0, 100, 200]) {
      expect(t.allows(at)).toBe(true);
      t.record(at);
    }
    expect(t.allows(999)).toBe(false);
    expect(t.allows(1000)).toBe(true);
    t.record(1000);
    expect(t.allows(1050)).toBe(false);
    expect(t.allows(1100)).toBe(true);
  });
});

describe('MessagingLimit', () => {
  it('reaches at most `limit` unique users in any moving 24 hours; a user already reached costs nothing more', () => {
    const m = new MessagingLimit(2);
    m.record('a', 0);
    m.record('b', 1000);
    expect(m.allows('c', 2000)).toBe(false);
    expect(m.allows('a', 2000)).toBe(true);
    m.record('a', 2000);
    expect(m.used(2000)).toBe(2);
    // b's day ends first (a was reached again at 2000)
    expect(m.allows('c', 1000 + CUSTOMER_SERVICE_WINDOW_MS - 1)).toBe(false);
    expect(m.allows('c', 1000 + CUSTOMER_SERVICE_WINDOW_MS)).toBe(true);
    expect(m.used(2000 + CUSTOMER_SERVICE_WINDOW_MS)).toBe(0);
  });
});
