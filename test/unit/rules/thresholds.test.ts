import { describe, expect, it } from 'vitest';
import { evaluateReading, openAlerts } from '../../../src/rules/index.js';
import { BIN, HOUR, MIN, RULES, T0, feed, fills, labels } from './feed.js';

const fullThenDown = [85, 85, 70, 55, 40, 31];

describe('full and cleared (full_pct 80, clear_pct 30, debounce 2)', () => {
  it.each([
    [79.9, []],
    [80, ['full+full']],
    [80.1, ['full+full']],
  ])('two readings at %s % -> %j', (fill, expected) => {
    expect(labels(feed(fills([fill, fill])).events)).toEqual(expected);
  });

  it.each([
    [30, ['full+full']],
    [29.9, ['full+full', 'cleared-full']],
    [10, ['full+full', 'cleared-full']],
  ])('falling slowly to two readings at %s % -> %j', (fill, expected) => {
    expect(labels(feed(fills([...fullThenDown, fill, fill])).events)).toEqual(expected);
  });

  it.each([
    ['hovering 78-82 after full', [85, 85, 78, 82, 79, 81, 78, 82, 80, 79.9, 82, 78], ['full+full']],
    ['hovering 78-82 before full', [78, 80, 79, 81, 79.9, 80.1, 78, 82, 79], []],
    ['hovering 28-32 after full', [...fullThenDown, 29, 31, 28, 32, 29.9, 30, 28], ['full+full']],
    ['many full readings', [85, 85, 90, 95, 100, 100, 100], ['full+full']],
  ])('%s never flaps', (_name, values, expected) => {
    expect(labels(feed(fills(values)).events)).toEqual(expected);
  });

  it('gives the threshold as cause and the fill as value', () => {
    const [e] = feed(fills([81, 84])).events;
    expect(e).toMatchObject({ type: 'full', cause: 'threshold', value: 84, binId: BIN, ts: T0 + 10 * MIN });
  });
});

describe('debounce', () => {
  it.each([
    [1, [85], 1],
    [2, [85], 0],
    [2, [85, 85], 1],
    [2, [85, 79, 85], 0],
    [3, [85, 85], 0],
    [3, [85, 85, 85], 1],
  ])('debounce %s with %j -> %s full events', (debounce, values, count) => {
    const { events } = feed(fills(values), { ...RULES, debounce });
    expect(events.filter((e) => e.type === 'full')).toHaveLength(count);
  });

  it.each([
    [[29, 29], ['full+full', 'cleared-full']],
    [[29, 31, 29], ['full+full']],
    [[29, 31, 29, 29], ['full+full', 'cleared-full']],
  ])('cleared after %j', (tail, expected) => {
    expect(labels(feed(fills([...fullThenDown, ...tail])).events)).toEqual(expected);
  });
});

describe('collection', () => {
  it.each([
    ['full bin emptied', [85, 85, 5], ['full+full', 'collected-full']],
    ['half-full bin emptied below clear_pct', [60, 62, 25], ['collected']],
    ['drop of 40 points, to clear_pct itself', [70, 72, 30], ['collected']],
    ['drop of 38 points above clear_pct', [70, 72, 32], []],
    ['small drop below clear_pct', [45, 47, 25], []],
    ['one spurious spike and back', [30, 30, 78, 30], ['outlier']],
    ['full again after a collection', [85, 85, 5, 10, 85, 85], ['full+full', 'collected-full', 'full+full']],
  ])('%s: %j -> %j', (_name, values, expected) => {
    expect(labels(feed(fills(values)).events)).toEqual(expected);
  });

  it('clears the full state at once, without debounce, and resets the fill history', () => {
    const { state } = feed(fills([85, 85, 5]));
    expect(openAlerts(state)).toEqual([]);
    expect(state.history).toEqual([{ ts: T0 + 20 * MIN, fill: 5 }]);
  });
});

describe('backlog', () => {
  it('ignores readings older than the newest one', () => {
    const before = feed(fills([85, 85]));
    const stale = evaluateReading({ binId: BIN, ts: T0 + 5 * MIN, fillPct: 2, temperatureC: 90, batteryPct: 1 }, before.state, RULES);
    expect(stale.events).toEqual([]);
    expect(stale.state).toEqual(before.state);
  });

  it.each([
    ['an older full reading does not debounce', [{ ts: T0 + 10 * MIN, fillPct: 85 }, { ts: T0, fillPct: 85 }], []],
    ['a duplicate does not debounce', [{ ts: T0, fillPct: 85 }, { ts: T0, fillPct: 85 }], []],
    ['in order it does', [{ ts: T0, fillPct: 85 }, { ts: T0 + MIN, fillPct: 85 }], ['full+full']],
  ])('%s', (_name, steps, expected) => {
    expect(labels(feed(steps).events)).toEqual(expected);
  });
});

describe('state', () => {
  it('is not mutated and survives JSON', () => {
    const { state } = feed(fills([85, 85]));
    const copy = JSON.parse(JSON.stringify(state)) as typeof state;
    const next = evaluateReading({ binId: BIN, ts: T0 + HOUR, fillPct: 5 }, copy, RULES);
    expect(copy).toEqual(state);
    expect(labels(next.events)).toEqual(['collected-full']);
  });

  it('is never changed in place, arrays included, whatever the readings do (a copy shares its arrays)', () => {
    const deepFreeze = <T>(o: T): T => {
      if (o && typeof o === 'object') for (const v of Object.values(o)) deepFreeze(v);
      return Object.freeze(o);
    };
    // fills that rise, echo, fall and stick; temperatures that climb to fire and cool; tilt and a weak battery
    const steps = [30, 31, 88, 32, 85, 86, 86, 86, 86, 86, 40, 12].map((fillPct, i) => ({
      fillPct,
      ts: T0 + i * 10 * MIN,
      temperatureC: [15, 20, 50, 65, 70, 30, 20, 18, 17, 16, 15, 15][i]!,
      batteryPct: 20 - i,
      tilt: i >= 5 && i <= 7,
    }));
    let state = feed([]).state;
    for (const step of steps) {
      const frozen = deepFreeze(JSON.parse(JSON.stringify(state)) as typeof state);
      state = evaluateReading({ binId: BIN, ...step }, frozen, RULES).state;
    }
    expect(state.lastTs).toBe(steps.at(-1)!.ts);
  });
});
