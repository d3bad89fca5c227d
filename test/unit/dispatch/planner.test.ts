// The round planner and the planning rate: which bins a zone's job takes and why, as tables.
import { describe, expect, it } from 'vitest';
import { planningRate } from '../../../src/dispatch/fill-rate.js';
import { emptyProfile, hourWeights, learnHour, weightedHours } from '../../../src/dispatch/fill-profile.js';
import { cannotWait, hoursToFull, hoursUntil, planRound, roundMinutes, roundTimes, type PlanBin } from '../../../src/dispatch/planner.js';

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
  it('puts a bin forecast to overflow before the next round in this round, with the hours to full_pct', () => {
    // 70 % at 4 %/h (4.8 with the 20 % margin): 108 % at the round in 8 h; 80 % in 2.5 h
    expect(round([bin('A', 0, 70, 4)])).toEqual([{ binId: 'A', reason: 'forecast', hoursToFull: 2.5 }]);
  });

  it.each([
    ['overflowing by the next round', 82, 2.5, ['A']],
    ['overflowing only by the rate margin (82 + 8 h × 2 × 1.2 = 101)', 82, 2, ['A']],
    ['full but not overflowing by the next round: waits for it', 82, 0.1, []],
    ['full only after the next round', 60, 2, []],
    ['not filling', 70, 0, []],
    ['rate unknown', 70, null, []],
    ['never reported', null, null, []],
  ])('%s: %s %% at %s %%/h', (_what, fill, rate, ids) => {
    expect(round([bin('A', 0, fill, rate)]).map((s) => s.binId)).toEqual(ids);
  });

  it('reads the rate against the city rhythm: a bin the quiet hours barely fill waits', () => {
    const quiet = { weights: new Array<number>(24).fill(0.25), utcOffsetMin: 60 };
    const plan = (rhythm?: typeof quiet) =>
      planRound({ now: NOW, nextRoundAt: NOW + 8 * H, roundAfterAt: NOW + 16 * H, fullPct: 80, truckL: 20_000, rideAlongKm: 0.6, bins: [bin('A', 0, 65, 4)], rhythm });
    expect(plan().map((s) => s.binId)).toEqual(['A']); // flat: 65 + 8 × 4.8 = 103
    expect(plan(quiet)).toEqual([]); // a quarter of that: 75
  });

  it('plans against when the next round reaches the bin, not when it starts', () => {
    const plan = (reachMs: number) =>
      planRound({ now: NOW, nextRoundAt: NOW + 8 * H, roundAfterAt: NOW + 16 * H, fullPct: 80, truckL: 20_000, rideAlongKm: 0.6, bins: [bin('A', 0, 70, 2.5)], reachMs, rateMargin: 0 });
    expect(plan(0)).toEqual([]); // 90 % at 8 h
    expect(plan(4 * H).map((s) => s.binId)).toEqual(['A']); // 100 % at 12 h
  });

  it.each([
    ['due by the forecast', 85, 2, [{ binId: 'A', reason: 'alert', cause: 'threshold', hoursToFull: 0 }]],
    ['rate unknown: the alert decides', 75, null, [{ binId: 'A', reason: 'alert', cause: 'threshold' }]],
    ['not overflowing before the next round: waits', 85, 0.2, []],
  ])('puts a queued bin in with its alert and cause when it is %s', (_what, fill, rate, stops) => {
    expect(round([bin('A', 0, fill, rate, { queued: { cause: 'threshold' } })])).toEqual(stops);
  });

  it('takes bins near the route that will be full before the next round, soonest first, within the truck volume', () => {
    const stops = round(
      [
        bin('DUE', 0, 90, 2),
        bin('SOON', 1, 70, 2), // full in 5 h: before the next round, no overflow by it
        bin('SOONER', 2, 75, 2), // full in 2.5 h
        bin('LATER', 3, 60, 2), // full in 10 h: after the next round, it waits
        { ...bin('FAR', 0, 70, 2), lat: 52.14 }, // full in 5 h but ~5 km away
      ],
      { truckL: 3 * 1100 },
    );
    expect(stops).toEqual([
      { binId: 'DUE', reason: 'forecast', hoursToFull: 0 },
      { binId: 'SOONER', reason: 'ride_along', hoursToFull: 2.5 },
      { binId: 'SOON', reason: 'ride_along', hoursToFull: 5 },
    ]);
  });

  it('takes no ride-along beyond the truck volume (the due bins go anyway)', () => {
    const stops = round([bin('DUE', 0, 90, 2), bin('DUE2', 1, 95, 2), bin('SOON', 2, 70, 2)], { truckL: 2 * 1100 });
    expect(stops.map((s) => s.binId)).toEqual(['DUE', 'DUE2']);
    const bigger = round([bin('DUE', 0, 90, 2), bin('DUE2', 1, 95, 2), bin('SOON', 2, 70, 2), bin('SMALL', 3, 70, 2, { capacityL: 240 })], { truckL: 2 * 1100 + 240 });
    expect(bigger.map((s) => `${s.binId}:${s.reason}`)).toEqual(['DUE:forecast', 'DUE2:forecast', 'SMALL:ride_along']);
  });

  it('makes no job when no bin is due, however many could ride along', () => {
    expect(round([bin('SOON', 1, 70, 2), bin('LATER', 3, 60, 2)])).toEqual([]);
  });
});

describe('the fill rhythm', () => {
  it('weighs hours flat until every hour was seen, then by the gain learned in each', () => {
    let p = emptyProfile();
    expect(hourWeights(p)).toEqual(new Array(24).fill(1));
    const fills = (pct: number) => new Map(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => [id, pct]));
    for (let h = 0; h < 24; h++) p = learnHour(p, h, fills(10), fills(h < 12 ? 11 : 13));
    const w = hourWeights(p);
    expect(w[0]).toBeCloseTo(0.5, 6);
    expect(w[12]).toBeCloseTo(1.5, 6);
  });

  it('leaves out emptied bins and spurious jumps, and learns nothing from too few bins', () => {
    const before = new Map([['a', 50], ['b', 50], ['c', 50], ['d', 50], ['e', 50], ['f', 90], ['g', 10]]);
    const after = new Map([['a', 52], ['b', 52], ['c', 52], ['d', 52], ['e', 52], ['f', 3], ['g', 95]]);
    expect(learnHour(emptyProfile(), 5, before, after).gainPct[5]).toBe(2);
    expect(learnHour(emptyProfile(), 5, new Map([['a', 1]]), new Map([['a', 2]])).days[5]).toBe(0);
  });

  it('counts mean hours by the local hour, across midnight', () => {
    const w = new Array<number>(24).fill(1);
    w[23] = 0;
    w[0] = 2;
    // 22:00 to 02:00 local in Amsterdam (UTC+1): 1 + 0 + 2 + 1
    expect(weightedHours(w, 60, Date.parse('2026-11-25T21:00:00Z'), Date.parse('2026-11-26T01:00:00Z'))).toBeCloseTo(4, 9);
    expect(weightedHours(w, 60, Date.parse('2026-11-25T22:30:00Z'), Date.parse('2026-11-25T23:30:00Z'))).toBeCloseTo(1, 9); // half of 23:00, half of 00:00
  });

  it('finds the hour a bin passes a level by the rhythm', () => {
    const w = new Array<number>(24).fill(0.5);
    expect(hoursUntil({ fillPct: 70, ratePctPerH: 2 }, NOW, 80, { weights: w, utcOffsetMin: 60 })).toBeCloseTo(10, 9);
    expect(hoursUntil({ fillPct: 70, ratePctPerH: 2 }, NOW, 80)).toBe(5);
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
