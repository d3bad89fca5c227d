import { describe, expect, it } from 'vitest';
import { evaluateReading, evaluateSilence, initialRuleState } from '../../../src/rules/index.js';
import { BIN, MIN, RULES, T0, feed, labels, type Step } from './feed.js';

/** temperatures, one reading every `stepMs` */
const temps = (values: number[], stepMs = 2 * MIN): Step[] =>
  values.map((temperatureC, i) => ({ temperatureC, ts: T0 + i * stepMs }));

describe('fire (fire_c 60)', () => {
  it.each([
    ['threshold', temps([20, 30, 60]), ['fire+fire']],
    ['just below the threshold, slowly', temps([20, 40, 59.9], 10 * MIN), []],
    ['fast rise above 45 °C', temps([40, 44, 52]), ['fire+fire']],
    ['fast rise that stays below 45 °C', temps([30, 36, 42]), []],
    ['the same rise over 20 minutes', temps([40, 46, 52], 10 * MIN), []],
    ['stays on fire', temps([65, 70, 80, 75]), ['fire+fire']],
    ['over after two readings below 50 °C', temps([65, 55, 49, 49]), ['fire+fire', 'fire-fire']],
    ['not over while one reading in between is warm', temps([65, 49, 55, 49]), ['fire+fire']],
    ['readings without temperature change nothing', [...temps([65, 49]), { ts: T0 + 5 * MIN }], ['fire+fire']],
  ])('%s', (_name, steps, expected) => {
    expect(labels(feed(steps).events)).toEqual(expected);
  });

  it('goes out urgent, with the temperature as value', () => {
    const [e] = feed(temps([20, 61])).events;
    expect(e).toMatchObject({ type: 'fire', urgent: true, value: 61, opens: 'fire' });
  });
});

describe('tilt (debounce 2)', () => {
  it.each([
    [[true], []],
    [[true, true], ['tilt+tilt']],
    [[true, false, true], []],
    [[true, true, true, true], ['tilt+tilt']],
    [[true, true, false], ['tilt+tilt']],
    [[true, true, false, false], ['tilt+tilt', 'tilt-tilt']],
    [[false, false, false], []],
  ])('%j -> %j', (values, expected) => {
    expect(labels(feed(values.map((tilt) => ({ tilt }))).events)).toEqual(expected);
  });
});

describe('low battery (battery_low_pct 15)', () => {
  it.each([
    [[16, 15], []],
    [[14.9], ['battery_low+battery_low']],
    [[14, 13, 12, 11], ['battery_low+battery_low']],
    [[14, 18, 19.9, 16], ['battery_low+battery_low']],
    [[14, 20], ['battery_low+battery_low', 'battery_low-battery_low']],
    [[14, 100, 14], ['battery_low+battery_low', 'battery_low-battery_low', 'battery_low+battery_low']],
  ])('%j -> %j', (values, expected) => {
    expect(labels(feed(values.map((batteryPct) => ({ batteryPct }))).events)).toEqual(expected);
  });
});

describe('offline (offline_after_s 7200)', () => {
  const last = T0 + 10 * MIN;
  const { state } = feed([{ ts: T0 }, { ts: last }]);

  it.each([
    ['just before the limit', last + 7_199_000, []],
    ['at the limit', last + 7_200_000, ['offline+offline']],
    ['a day later', last + 86_400_000, ['offline+offline']],
  ])('%s -> %j', (_name, now, expected) => {
    expect(labels(evaluateSilence(BIN, state, now, RULES).events)).toEqual(expected);
  });

  it('emits once per outage, and the next reading brings it back online', () => {
    const first = evaluateSilence(BIN, state, last + 3 * 3_600_000, RULES);
    const again = evaluateSilence(BIN, first.state, last + 5 * 3_600_000, RULES);
    expect(first.events[0]).toMatchObject({ type: 'offline', value: 10_800, ts: last + 3 * 3_600_000 });
    expect(again.events).toEqual([]);
    const back = evaluateReading({ binId: BIN, ts: last + 5 * 3_600_000, fillPct: 50, temperatureC: 70 }, again.state, RULES);
    expect(labels(back.events)).toEqual(['offline-offline', 'fire+fire']);
    expect(back.events[0]?.message).toBe('Sensor is back online.');
    const later = evaluateSilence(BIN, back.state, last + 6 * 3_600_000, RULES);
    expect(later.events).toEqual([]);
  });

  it('a replayed backlog received now ends the outage without touching the fill state', () => {
    const off = evaluateSilence(BIN, state, last + 3 * 3_600_000, RULES).state;
    const backlog = { binId: BIN, ts: T0 + 5 * MIN, fillPct: 99, receivedAt: last + 3 * 3_600_000 + 1 };
    const out = evaluateReading(backlog, off, RULES);
    expect(labels(out.events)).toEqual(['offline-offline']);
    expect(out.state.lastTs).toBe(last);
    expect(out.state.lastFill).toBe(off.lastFill);
  });

  it('says nothing about a bin never heard from', () => {
    expect(evaluateSilence(BIN, initialRuleState(), T0 + 86_400_000, RULES).events).toEqual([]);
  });
});
