import { describe, expect, it } from 'vitest';
import { createSimClock, defaultSimStart } from '../../../firmware-sim/sim-clock.js';

describe('simulated clock', () => {
  it('runs speed times faster but never ahead of the real clock', () => {
    const t0 = Date.parse('2026-11-25T12:00:00Z');
    let real = t0;
    const clock = createSimClock(t0 - 3_600_000, 60, () => real);
    real = t0 + 30_000; // 30 real seconds = 30 simulated minutes
    expect(clock.now()).toBe(t0 - 1_800_000);
    real = t0 + 120_000; // 120 simulated minutes would be an hour in the future
    expect(clock.now()).toBe(real);
  });

  it('with real stamps (ahead), runs speed times faster into the future: the readings carry the real time', () => {
    const t0 = Date.parse('2026-11-25T12:00:00Z');
    let real = t0;
    const clock = createSimClock(t0, 3600, () => real, { ahead: true });
    real = t0 + 10_000; // 10 real seconds = 10 simulated hours
    expect(clock.now()).toBe(t0 + 36_000_000);
  });

  it('starts a sped-up run far enough back to stay in the past', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(defaultSimStart(now, 1, undefined)).toBe(now);
    expect(defaultSimStart(now, 60, 60_000)).toBe(now - 59 * 60_000);
    expect(defaultSimStart(now, 60, undefined)).toBe(now - 86_400_000);
  });
});
