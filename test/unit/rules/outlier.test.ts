import { describe, expect, it } from 'vitest';
import { openAlerts } from '../../../src/rules/index.js';
import { HOUR, MIN, RULES, T0, feed, fills, labels, type Step } from './feed.js';

const QUARTER = 15 * MIN;

describe('a lone spurious echo', () => {
  it.each([
    ['in a third-full bin', [30, 30, 30, 85, 30, 31]],
    ['reading past full_pct twice apart', [40, 41, 90, 41, 42, 95, 42]],
    ['in a bin filling fast', [60, 62, 64, 66, 92, 68, 70]],
    ['right after a collection', [85, 85, 5, 6, 70, 7, 8]],
  ])('%s is an outlier, not an alert', (_name, values) => {
    const { events, state } = feed(fills(values, QUARTER), { ...RULES, forecast_horizon_h: 0 });
    const outliers = events.filter((e) => e.type === 'outlier');
    expect(outliers.length).toBeGreaterThan(0);
    expect(outliers.every((e) => e.opens === undefined)).toBe(true);
    expect(events.filter((e) => e.opens === 'full' && e.ts > T0 + QUARTER)).toEqual([]);
    expect(openAlerts(state)).not.toContain('sensor_suspect');
  });

  it('is never a fill level the rules act on, and is remembered on the bin', () => {
    const { events, state } = feed(fills([30, 30, 30, 85, 30, 31], QUARTER));
    expect(labels(events)).toEqual(['outlier']);
    expect(events[0]).toMatchObject({ type: 'outlier', ts: T0 + 3 * QUARTER, value: 85 });
    expect(events[0]?.message).toMatch(/85 % set aside/);
    expect(state.history.map((p) => p.fill)).toEqual([30, 30, 30, 30, 31]);
    expect(state.lastFill).toBe(31);
    expect(state.outlier).toMatchObject({ pending: null, lastAt: T0 + 3 * QUARTER, total: 1 });
  });

  it('does not fire the forecast in a bin filling steadily', () => {
    const steady = Array.from({ length: 12 }, (_, i) => 55 + i * 0.5);
    steady[8] = 88;
    const { events } = feed(fills(steady, QUARTER));
    expect(labels(events)).toEqual(['outlier']);
  });
});

describe('a real rise the next reading confirms', () => {
  it.each([
    ['a big bag in a third-full bin', [30, 30, 60, 61, 62], []],
    ['a third-full bin filled to the brim', [30, 30, 85, 86], ['full+full']],
    ['readings after a long gap', [30, 30, 50, 51], []],
  ])('%s: %j -> %j', (_name, values, expected) => {
    const { events, state } = feed(fills(values, QUARTER));
    expect(labels(events)).toEqual(expected);
    expect(state.history.map((p) => p.fill)).toEqual(values);
    expect(state.outlier?.total).toBe(0);
  });

  it('is acted on at the reading that confirms it, as of its own time', () => {
    const { events } = feed(fills([30, 30, 85, 86], QUARTER));
    expect(events[0]).toMatchObject({ type: 'full', cause: 'threshold', ts: T0 + 3 * QUARTER, value: 86 });
  });
});

describe('a tilted bin', () => {
  it('gives no fill level: what its sensor reads is not the waste', () => {
    const steps: Step[] = [{ fillPct: 30 }, ...[95, 12, 88, 97].map((fillPct) => ({ fillPct, tilt: true })), { fillPct: 31, tilt: false }];
    const { events, state } = feed(steps.map((s, i) => ({ ...s, ts: T0 + i * QUARTER })));
    expect(labels(events)).toEqual(['tilt+tilt']);
    expect(state.history.map((p) => p.fill)).toEqual([30, 31]);
  });
});

describe('sensor_suspect on persistent evidence only', () => {
  /** a flat bin at about 40 % (jittering, so never a stuck value) every 15 minutes */
  const flat = (n: number): number[] => Array.from({ length: n }, (_, i) => 40 + (i % 3) * 0.3);
  /** a day of it, with an echo of 90 % at the given readings */
  const withEchoes = (at: number[]): Step[] => fills(flat(96).map((v, i) => (at.includes(i) ? 90 : v)), QUARTER);

  it.each([
    ['one echo', [10], []],
    ['three echoes in a day', [10, 40, 70], []],
    ['four echoes in a day', [10, 30, 50, 70], ['sensor_suspect+sensor_suspect']],
  ])('%s -> %j', (_name, at, expected) => {
    const { events } = feed(withEchoes(at));
    expect(labels(events).filter((l) => l !== 'outlier')).toEqual(expected);
    expect(events.filter((e) => e.type === 'outlier')).toHaveLength(at.length);
  });

  it('gives the run of outliers as cause, and closes once the day holds fewer', () => {
    const day = withEchoes([10, 30, 50, 70]);
    const after = fills(flat(40), QUARTER, T0 + 24 * HOUR);
    const { events, state } = feed([...day, ...after]);
    const suspect = events.filter((e) => e.type === 'sensor_suspect');
    expect(suspect.map((e) => labels([e])[0])).toEqual(['sensor_suspect+sensor_suspect', 'sensor_suspect-sensor_suspect']);
    expect(suspect[0]).toMatchObject({ cause: 'outlier_run', ts: T0 + 71 * QUARTER });
    expect(suspect[1]!.ts).toBeGreaterThan(T0 + 10 * QUARTER + 24 * HOUR);
    expect(openAlerts(state)).toEqual([]);
  });
});
