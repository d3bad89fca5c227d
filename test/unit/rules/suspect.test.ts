import { describe, expect, it } from 'vitest';
import { evaluateReport, initialRuleState, openAlerts } from '../../../src/rules/index.js';
import { BIN, HOUR, MIN, RULES, T0, feed, fills, labels, type Step } from './feed.js';

/** `n` readings every 30 min with the same distance (and fill) */
const same = (n: number, fillPct: number, distanceMm?: number): Step[] =>
  Array.from({ length: n }, (_, i) => ({ ts: T0 + i * 30 * MIN, fillPct, distanceMm }));

describe('stuck value', () => {
  it.each([
    ['13 identical distances over 6 h', same(13, 45, 600), ['sensor_suspect+sensor_suspect']],
    ['12 identical distances over 5.5 h', same(12, 45, 600), []],
    ['13 identical fills (no distance) over 6 h', same(13, 45), ['sensor_suspect+sensor_suspect']],
    ['an empty bin at 0 % for 12 h', same(25, 0, 1050), []],
    ['a full bin clamped at 100 % for 12 h', same(25, 100, 50), ['full+full']],
    ['distance varying by a millimetre', same(25, 45, 600).map((s, i) => ({ ...s, distanceMm: 600 + (i % 2) })), []],
  ])('%s', (_name, steps, expected) => {
    expect(labels(feed(steps).events)).toEqual(expected);
  });

  it('opens once and closes after plausible readings resume', () => {
    const steps = [...same(20, 45, 600), { ts: T0 + 11 * HOUR, fillPct: 46, distanceMm: 590 }, { ts: T0 + 12 * HOUR, fillPct: 47, distanceMm: 585 }];
    const { events, state } = feed(steps);
    expect(labels(events)).toEqual(['sensor_suspect+sensor_suspect', 'sensor_suspect-sensor_suspect']);
    expect(events[0]).toMatchObject({ cause: 'stuck' });
    expect(openAlerts(state)).toEqual([]);
  });
});

describe('a jump no bin can make', () => {
  it.each([
    ['+65 points in 5 minutes and back', fills([10, 75, 12], 5 * MIN), ['outlier']],
    ['+65 points in 15 minutes and back', fills([10, 75, 12], 15 * MIN), ['outlier']],
    ['+55 points in 5 minutes, and it stays', fills([10, 65, 66], 5 * MIN), []],
  ])('%s: %j', (_name, steps, expected) => {
    expect(labels(feed(steps).events)).toEqual(expected);
  });

  it('neither fills the bin, nor counts as a collection when it falls back, nor opens sensor_suspect', () => {
    const { events, state } = feed(fills([10, 90, 10], 5 * MIN), { ...RULES, debounce: 1 });
    expect(labels(events)).toEqual(['outlier']);
    expect(openAlerts(state)).toEqual([]);
  });
});

describe('resident report', () => {
  it.each([
    [10, ['report', 'sensor_suspect+sensor_suspect']],
    [29.9, ['report', 'sensor_suspect+sensor_suspect']],
    [30, ['report']],
    [85, ['report']],
  ])('sensor at %s % -> %j', (fill, expected) => {
    const { state } = feed([{ fillPct: fill }]);
    expect(labels(evaluateReport(BIN, state, T0 + HOUR, RULES).events)).toEqual(expected);
  });

  it('with no reading yet is only a report', () => {
    const out = evaluateReport(BIN, initialRuleState(), T0, RULES);
    expect(out.events).toEqual([{ type: 'report', binId: BIN, ts: T0, message: 'A resident reported this bin (no sensor reading yet).' }]);
  });

  it('marks the sensor suspect once, and believes it again when it sees the level move', () => {
    const { state } = feed([{ fillPct: 10 }]);
    const first = evaluateReport(BIN, state, T0 + HOUR, RULES);
    const second = evaluateReport(BIN, first.state, T0 + 2 * HOUR, RULES);
    expect(labels(second.events)).toEqual(['report']);
    const still = feed(fills([11, 12, 10], 10 * MIN, T0 + 3 * HOUR), RULES, second.state);
    expect(openAlerts(still.state)).toEqual(['sensor_suspect']);
    const moving = feed(fills([18, 22], 10 * MIN, T0 + 4 * HOUR), RULES, still.state);
    expect(labels(moving.events)).toEqual(['sensor_suspect-sensor_suspect']);
  });
});

describe('messages', () => {
  it('are short sentences for operators', () => {
    const { events } = feed([
      ...fills([85, 85, 5], 10 * MIN),
      { ts: T0 + HOUR, fillPct: 5, temperatureC: 90, tilt: true, batteryPct: 3 },
      { ts: T0 + HOUR + MIN, fillPct: 80, tilt: true },
    ]);
    expect(events.length).toBeGreaterThanOrEqual(5);
    for (const e of events) expect(e.message).toMatch(/^[A-Z][^\n]{5,140}\.$/);
  });
});
