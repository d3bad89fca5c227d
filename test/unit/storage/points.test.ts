import { describe, expect, it } from 'vitest';
import { readingPoints, referencePoints } from '../../../src/storage/points.js';

const bin = { id: 'B-1', zone: 'north', kind: 'paper', lat: 52.0907, lon: 5.1214 };

describe('readingPoints', () => {
  it('writes exactly what lineProtocol writes, for every mix of present and absent fields', () => {
    const values = [
      { ts: 1_700_000_000_000, fillPct: 42 },
      { ts: 1_700_000_000_000.6, fillPct: 42.5, distanceMm: 412, batteryPct: 80, temperatureC: -3.25, tilt: true, rssi: -97 },
      { ts: 1_700_000_000_001, fillPct: 0, distanceMm: 0, tilt: false },
      { ts: 1_700_000_000_002, fillPct: 100, batteryPct: 1e-7, temperatureC: 499.99999999999994, rssi: 20 },
      { ts: 946_684_800_000, fillPct: 33.333333333333336, temperatureC: -0 },
    ];
    for (const r of values) {
      for (const withState of [false, true]) expect(readingPoints(r, bin, withState)).toEqual(referencePoints(r, bin, withState));
    }
  });

  it('escapes tags as lineProtocol does, and follows a bin edited in place', () => {
    const odd = { id: 'B 2,x=y', zone: 'zone\\ one', kind: 'glass,green=1', lat: -33.5, lon: 151.25 };
    const r = { ts: 1_700_000_000_000, fillPct: 12.5, rssi: -80 };
    expect(readingPoints(r, odd, true)).toEqual(referencePoints(r, odd, true));
    odd.zone = 'south';
    odd.lat = 1e-9;
    expect(readingPoints(r, odd, true)).toEqual(referencePoints(r, odd, true));
    expect(readingPoints(r, odd, true)[0]).toContain('zone=south');
  });

  it('refuses a value that is no finite number as lineProtocol does', () => {
    expect(() => readingPoints({ ts: 1, fillPct: Number.NaN }, bin, false)).toThrow(/invalid float value for field 'fill_pct'/);
    const nowhere = { ...bin, lat: Number.POSITIVE_INFINITY };
    // a reading point needs no place; a state point does
    expect(readingPoints({ ts: 1, fillPct: 1 }, nowhere, false)).toEqual(referencePoints({ ts: 1, fillPct: 1 }, nowhere, false));
    expect(() => readingPoints({ ts: 1, fillPct: 1 }, nowhere, true)).toThrow(/invalid float value for field 'lat'/);
  });
});
