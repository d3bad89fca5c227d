import { describe, expect, it } from 'vitest';
import { ManualClock, realClock } from '../../../src/clock.js';

describe('ManualClock', () => {
  it('stands still until advanced, then fires timers in due order at their own time', async () => {
    const clock = new ManualClock(1_000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 200);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 100);
    clock.setTimeout(() => fired.push(['late', clock.now()]), 10_000);
    expect(clock.now()).toBe(1_000);
    await clock.advance(500);
    expect(fired).toEqual([
      ['a', 1_100],
      ['b', 1_200],
    ]);
    expect(clock.now()).toBe(1_500);
    expect(clock.timers).toBe(1);
    expect(clock.nextDue()).toBe(11_000);
  });

  it('repeats intervals until cleared, also from inside the callback', async () => {
    const clock = new ManualClock(0);
    const at: number[] = [];
    const timer = clock.setInterval(() => {
      at.push(clock.now());
      if (at.length === 3) timer.clear();
    }, 60);
    await clock.advance(1_000);
    expect(at).toEqual([60, 120, 180]);
    expect(clock.timers).toBe(0);
  });

  it('fires timers set by timers within the same advance, and lets promise chains settle between them', async () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => {
        seen.push(`then@${clock.now()}`);
        clock.setTimeout(() => seen.push(`second@${clock.now()}`), 50);
      });
    }, 10);
    clock.setTimeout(() => seen.push(`other@${clock.now()}`), 20);
    await clock.advance(100);
    expect(seen).toEqual(['then@10', 'other@20', 'second@60']);
  });

  it('sleeps in simulated time and honours an abort', async () => {
    const clock = new ManualClock(0);
    let woke = false;
    const sleeping = clock.sleep(5_000).then(() => (woke = true));
    await clock.advance(4_999);
    expect(woke).toBe(false);
    await clock.advance(1);
    await sleeping;
    expect(woke).toBe(true);

    const ac = new AbortController();
    const aborted = clock.sleep(1_000, ac.signal);
    ac.abort(new Error('stopping'));
    await expect(aborted).rejects.toThrow('stopping');
    expect(clock.timers).toBe(0);
  });

  it('never moves backwards', async () => {
    const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
    await clock.advanceTo(0);
    expect(clock.now()).toBe(Date.parse('2026-12-01T00:00:00Z'));
  });
});

describe('realClock', () => {
  it('reads the wall clock and runs real timers', async () => {
    const before = Date.now();
    expect(realClock.now()).toBeGreaterThanOrEqual(before);
    await realClock.sleep(5);
    let fired = false;
    const t = realClock.setTimeout(() => (fired = true), 0).unref();
    await new Promise((resolve) => realClock.setTimeout(() => resolve(undefined), 5));
    expect(fired).toBe(true);
    t.clear();
  });
});
