import { describe, expect, it } from 'vitest';
import { ManualClock, realClock, within } from '../../../src/clock.js';

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

describe('ManualClock.holdWhile', () => {
  /** Work that takes `turns` turns of the event loop (setImmediate), as an inbox's commits and handlers do. */
  const slowWork = async (turns: number, done: () => void): Promise<void> => {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    done();
  };

  it('holds time still until work a timer started is finished, however many turns it takes', async () => {
    for (const hold of [false, true]) {
      const clock = new ManualClock(0);
      let busy = 0;
      let doneAt: number | null = null;
      if (hold) clock.holdWhile(() => busy > 0);
      clock.setTimeout(() => {
        busy++;
        void slowWork(50, () => {
          busy--;
          doneAt = clock.now();
        });
      }, 1000);
      for (let t = 2000; t <= 10_000; t += 1000) clock.setTimeout(() => {}, t);
      await clock.advanceTo(10_000);
      // without holding, the other timers fire while the work is under way, and time has moved on when it ends
      if (hold) expect(doneAt).toBe(1000);
      else expect(doneAt).not.toBe(1000);
    }
  });

  it('says so when held work never ends', async () => {
    const clock = new ManualClock(0);
    clock.holdWhile(() => true, 1000);
    clock.setTimeout(() => {}, 10);
    await expect(clock.advanceTo(20)).rejects.toThrow(/work still unfinished after 1000 turns/);
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

describe('within', () => {
  it('gives the work\'s value when it settles in time, null once the time has passed, and passes a rejection on', async () => {
    const clock = new ManualClock(0);
    expect(await within(clock, 1_000, Promise.resolve(7))).toBe(7);
    await expect(within(clock, 1_000, Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    let settled = false;
    const late = within(clock, 1_000, new Promise<number>(() => {})).then((v) => ((settled = true), v));
    await clock.advance(999);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await late).toBeNull();
  });
});
