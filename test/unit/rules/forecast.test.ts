import { describe, expect, it } from 'vitest';
import { forecast } from '../../../src/rules/index.js';
import { MIN, RULES, feed, fills, labels } from './feed.js';

const QUARTER = 15 * MIN;
/** fill every 15 minutes rising `rate` %/h from `from` %, for `hours` */
function rising(from: number, rate: number, hours: number): number[] {
  return Array.from({ length: hours * 4 + 1 }, (_, i) => from + (rate * i) / 4);
}
const noise = [0, 2.5, -2, 1.5, -1, 2, -2.5, 0.5, 1, -1.5, 2, -0.5, -2, 1];

describe('forecast()', () => {
  it.each([
    ['linear 5 %/h from 40 %', rising(40, 5, 1), 5, 7],
    ['linear 10 %/h from 20 %', rising(20, 10, 2), 10, 4],
  ])('%s: rate %s %/h, %s h to full', (_name, values, rate, hours) => {
    // horizon 0 keeps the forecast event out of the way, so the history is all there is
    const { state } = feed(fills(values, QUARTER), { ...RULES, forecast_horizon_h: 0 });
    const f = forecast(state, RULES);
    expect(f.ratePctPerH).toBeCloseTo(rate, 6);
    expect(f.hoursToFull).toBeCloseTo(hours, 6);
  });

  it.each([
    ['no readings', []],
    ['two readings', [40, 50]],
    ['three readings within 20 minutes', [40, 45, 50]],
  ])('%s: not enough to estimate', (_name, values) => {
    const { state } = feed(fills(values, 10 * MIN), { ...RULES, forecast_horizon_h: 0 });
    expect(forecast(state, RULES)).toEqual({ ratePctPerH: null, hoursToFull: null, levelPct: null });
  });

  it.each([
    ['falling', rising(60, -3, 2)],
    ['noisy flat', noise.map((n) => 50 + n)],
  ])('%s: a rate but no time to full', (_name, values) => {
    const { state } = feed(fills(values, 30 * MIN), { ...RULES, forecast_horizon_h: 0 });
    const f = forecast(state, RULES);
    expect(f.ratePctPerH).not.toBeNull();
    expect(f.hoursToFull).toBeNull();
  });
});

describe('forecast full (horizon 6 h)', () => {
  it.each([
    ['linear 5 %/h from 60 %', fills(rising(60, 5, 3), QUARTER), 1],
    ['noisy 5 %/h from 60 %', fills(rising(60, 5, 3).map((v, i) => v + (noise[i] ?? 0) / 2), QUARTER), 1],
    ['slow rise 1 %/h from 60 %', fills(rising(60, 1, 8), QUARTER), 0],
    // a lunchtime or evening rush extrapolated over the quiet hours after it: no bin is full at this rate for long
    ['rush of 9 %/h from 30 %, far from full', fills(rising(30, 9, 3), QUARTER), 0],
    ['linear 5 %/h from 40 %, until 12 points short of full', fills(rising(40, 5, 5), QUARTER), 0],
    // a straight line through a slowing rise ends above its last reading (here at about 70 %)
    ['a rush slowing down at 67.5 %', fills([40, 48, 55, 60, 63, 65, 66.5, 67.5], QUARTER), 0],
    ['noisy flat around 50 %', fills(noise.map((n) => 50 + n), 30 * MIN), 0],
    ['fast rise in two readings only', fills([40, 60], 30 * MIN), 0],
  ])('%s -> %s forecast events', (_name, steps, count) => {
    const { events } = feed(steps);
    const forecasts = events.filter((e) => e.type === 'full' && e.cause === 'forecast');
    expect(forecasts).toHaveLength(count);
  });

  it('fires once, as soon as the bin is near full and the time to full inside the horizon, and the threshold adds nothing', () => {
    const { events, state } = feed(fills(rising(40, 5, 9), QUARTER));
    expect(labels(events)).toEqual(['full+full']);
    expect(events[0]).toMatchObject({ cause: 'forecast', opens: 'full', value: 68.75, hoursToFull: 2.25 });
    expect(events[0]?.message).toMatch(/about 2.3 h/);
    expect(state.full).toMatchObject({ open: true, cause: 'forecast' });
  });

  it('is off with horizon 0', () => {
    const { events } = feed(fills(rising(40, 5, 4), QUARTER), { ...RULES, forecast_horizon_h: 0 });
    expect(events).toEqual([]);
  });

  it('starts over after a collection', () => {
    const steps = fills([...rising(40, 5, 2), 85, 85, 5, 6], QUARTER);
    const { events, state } = feed(steps);
    expect(labels(events)).toEqual(['full+full', 'collected-full']);
    expect(state.history).toHaveLength(2);
    expect(forecast(state, RULES).ratePctPerH).toBeNull();
  });
});
