// The round planner and the planning rate: which bins a zone's job takes and why, as tables.
import { describe, expect, it } from 'vitest';
import { planningRate } from '../../../src/dispatch/fill-rate.js';
import { cannotWait, hoursToFull, planRound, roundMinutes, roundTimes, type PlanBin } from '../../../src/dispatch/planner.js';

const H = 3_600_000;
const NOW = Date.parse('2026-11-25T05:00:00Z'); // 06:00 in Amsterdam
// one street: bins ~100 m apart along a meridian; FAR is ~5 km away
const at = (i: number) => ({ lat: 52.09 + i * 0.0009, lon: 5.12 });
const bin = (id: string, i: number, fillPct: number | null, ratePctPerH: number | null, extra: Partial<PlanBin> = {}): PlanBin => ({
  id,
  ...at(i),
  capacityL: 1100,
  fillPct,
  ratePctPerH,
  ...extra,
});
const round = (bins: PlanBin[], o: { truckL?: number; rideAlongKm?: number } = {}) =>
  planRound({ now: NOW, nextRoundAt: NOW + 8 * H, roundAfterAt: NOW + 16 * H, fullPct: 80, truckL: o.truckL ?? 20_000, rideAlongKm: o.rideAlongKm ?? 0.6, bins });

describe('hoursToFull', () => {
  it.each([
    [85, 2, 0],
    [80, null, 0],
    [60, 2, 10],
    [60, 0, null],
    [60, null, null],
    [null, 2, null],
  ])('fill %s at %s %%/h: %s h', (fill, rate, hours) => {
    expect(hoursToFull(fill, rate, 80)).toBe(hours);
  });
});

describe('planRound', () => {
  it('puts a bin forecast to pass full_pct before the next round in this round, with the forecast hours', () => {
    // 70 % at 2 %/h: 80 % in 5 h, before the round in 8 h
    expect(round([bin('A', 0, 70, 2)])).toEqual([{ binId: 'A', reason: 'forecast', hoursToFull: 5 }]);
  });

  it.each([
    ['full by the next round', 70, 2, ['A']],
    ['already full', 82, 0.1, ['A']],
    ['full only after the next round', 60, 2, []],
    ['not filling', 70, 0, []],
    ['rate unknown', 70, null, []],
    ['never reported', null, null, []],
  ])('%s: %s %% at %s %%/h', (_what, fill, rate, ids) => {
    expect(round([bin('A', 0, fill, rate)]).map((s) => s.binId)).toEqual(ids);
  });

  it.each([
    ['due by the forecast', 75, 1, [{ binId: 'A', reason: 'alert', cause: 'threshold', hoursToFull: 5 }]],
    ['rate unknown: the alert decides', 75, null, [{ binId: 'A', reason: 'alert', cause: 'threshold' }]],
    ['full only after the next round: waits', 75, 0.2, []],
  ])('puts a queued bin in with its alert and cause when it is %s', (_what, fill, rate, stops) => {
    expect(round([bin('A', 0, fill, rate, { queued: { cause: 'threshold' } })])).toEqual(stops);
  });

  it('takes bins near the route that will be full before the round after, soonest first, within the truck volume', () => {
    const stops = round(
      [
        bin('DUE', 0, 79, 2),
        bin('SOON', 1, 60, 2), // full in 10 h: before the round after
        bin('SOONER', 2, 65, 2), // full in 7.5 h: before the next round, so due itself
        bin('LATER', 3, 50, 2), // full in 15 h: before the round after
        bin('NOTYET', 4, 20, 2), // full in 30 h
        { ...bin('FAR', 0, 60, 2), lat: 52.14 }, // full in 10 h but ~5 km away
      ],
      { truckL: 4 * 1100 },
    );
    expect(stops).toEqual([
      { binId: 'DUE', reason: 'forecast', hoursToFull: 0.5 },
      { binId: 'SOONER', reason: 'forecast', hoursToFull: 7.5 },
      { binId: 'SOON', reason: 'ride_along', hoursToFull: 10 },
      { binId: 'LATER', reason: 'ride_along', hoursToFull: 15 },
    ]);
  });

  it('takes no ride-along beyond the truck volume (the due bins go anyway)', () => {
    const stops = round([bin('DUE', 0, 90, 2), bin('DUE2', 1, 95, 2), bin('SOON', 2, 60, 2)], { truckL: 2 * 1100 });
    expect(stops.map((s) => s.binId)).toEqual(['DUE', 'DUE2']);
    const bigger = round([bin('DUE', 0, 90, 2), bin('DUE2', 1, 95, 2), bin('SOON', 2, 60, 2), bin('SMALL', 3, 60, 2, { capacityL: 240 })], { truckL: 2 * 1100 + 240 });
    expect(bigger.map((s) => `${s.binId}:${s.reason}`)).toEqual(['DUE:forecast', 'DUE2:forecast', 'SMALL:ride_along']);
  });

  it('makes no job when no bin is due, however many could ride along', () => {
    expect(round([bin('SOON', 1, 60, 2), bin('LATER', 3, 50, 2)])).toEqual([]);
  });
});

describe('cannotWait', () => {
  it.each([
    [85, 2, true], // 101 % at the round in 8 h
    [85, 1, false], // 93 %
    [85, null, true], // nothing says it can wait
    [null, null, true],
  ])('%s %% at %s %%/h, round in 8 h: %s', (fill, rate, yes) => {
    expect(cannotWait({ fillPct: fill, ratePctPerH: rate }, NOW, NOW + 8 * H)).toBe(yes);
  });
});

describe('roundTimes', () => {
  const rounds = roundMinutes(['22:00', '06:00', '14:00', '06:00']);
  it('reads the round times as sorted minutes', () => {
    expect(rounds).toEqual([360, 840, 1320]);
  });
  it.each([
    [360, 0, 8, 16], // at 06:00: this round, 14:00, 22:00
    [361, -1 / 60, 8 - 1 / 60, 16 - 1 / 60],
    [23 * 60, -1, 7, 15], // 23:00: last 22:00, next 06:00, then 14:00
    [5 * 60, -7, 1, 9],
  ])('local minute %s: last %s h, next %s h, after %s h', (minute, last, next, after) => {
    const t = roundTimes(NOW, minute, rounds)!;
    expect([(t.last - NOW) / H, (t.next - NOW) / H, (t.after - NOW) / H].map((x) => Math.round(x * 1000) / 1000)).toEqual([last, next, after].map((x) => Math.round(x * 1000) / 1000));
  });
  it('is null without rounds', () => {
    expect(roundTimes(NOW, 0, [])).toBeNull();
  });
});

describe('planningRate', () => {
  it.each([
    ['mean since the emptying, over 6 h or more', { at: NOW - 10 * H, fillPct: 5 }, 45, 9, 4],
    ['the rules estimate while the emptying is recent', { at: NOW - 2 * H, fillPct: 5 }, 15, 9, 9],
    ['the rules estimate with no emptying seen', undefined, 45, 9, 9],
    ['the rules estimate after an emptying the dispatcher missed', { at: NOW - 10 * H, fillPct: 50 }, 10, 1.5, 1.5],
    ['nothing known', undefined, 45, null, null],
  ])('%s', (_what, emptied, fill, rulesRate, rate) => {
    expect(planningRate({ emptied, fillPct: fill, now: NOW, rulesRate })).toBe(rate);
  });
});
