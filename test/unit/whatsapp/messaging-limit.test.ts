import { describe, expect, it } from 'vitest';
import { MessagingLimit } from '../../../src/whatsapp/index.js';

const DAY = 24 * 3_600_000;

describe('MessagingLimit', () => {
  it('has room for `limit` unique users; one reached in the last 24 hours costs nothing more', () => {
    const m = new MessagingLimit(2);
    for (const [to, at] of [['a', 0], ['b', 10]] as const) {
      expect(m.readyAt(to, at)).toBe(at);
      m.reserve(to);
      m.settle(to, true, at);
    }
    expect(m.used(20)).toBe(2);
    expect(m.readyAt('a', 20)).toBe(20);
    // full: c waits for a's 24 hours to end
    expect(m.readyAt('c', 20)).toBe(DAY);
    expect(m.readyAt('c', DAY)).toBe(DAY);
  });

  it('counts a send on the wire at once, and frees it when Graph refused it', () => {
    const m = new MessagingLimit(1);
    m.reserve('a');
    expect(m.used(0)).toBe(1);
    expect(m.readyAt('b', 0)).toBeGreaterThan(0);
    m.settle('a', false, 5);
    expect(m.used(5)).toBe(0);
    expect(m.readyAt('b', 5)).toBe(5);
  });

  it('runs the 24 hours from the latest reach of a user, also when remembered at start', () => {
    const m = new MessagingLimit(1);
    m.seen('a', 0);
    m.seen('a', 1000);
    m.seen('a', 500); // older than what is known: ignored
    expect(m.readyAt('b', DAY)).toBe(DAY + 1000);
    expect(m.used(DAY + 1000)).toBe(0);
  });

  it('has no limit at the unlimited tier', () => {
    const m = MessagingLimit.of('unlimited');
    for (let i = 0; i < 1000; i++) m.settle(String(i), true, i);
    expect(m.readyAt('x', 1000)).toBe(1000);
    expect(m.reachAllBy(160, 0, 80)).toBe(2000);
  });

  it.each([
    // [limit, reached at, n, expected]: free slots first, then as reaches turn 24 hours old, then a day per round
    [3, [], 3, 38],
    [3, [0], 3, DAY],
    [3, [0, 100], 1, 13],
    [3, [0, 100], 3, DAY + 100],
    [2, [0, 100], 4, 2 * DAY + 100],
    [2, [0, 100], 5, 3 * DAY],
  ] as const)('with a limit of %i and users reached at %j, %i more are reached by %i', (limit, reached, n, by) => {
    const m = new MessagingLimit(limit);
    reached.forEach((at, i) => m.seen(`u${i}`, at));
    expect(m.reachAllBy(n, 0, 80)).toBe(by);
  });
});
