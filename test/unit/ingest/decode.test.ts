import { describe, expect, it } from 'vitest';
import { decodeNative, fillFromDistance, parseTimestamp, toReading, validateMeasurement, type Decoded } from '../../../src/ingest/index.js';
import { measurementSchema } from '../../../src/ingest/reading.js';

const bin = { id: 'UTR-0001', depth_mm: 1000, sensor_offset_mm: 50 };
const NOW = Date.parse('2026-11-25T16:00:00Z');
const ctx = { now: NOW, maxFutureMs: 300_000, source: 'mqtt' as const };

describe('decodeNative', () => {
  it.each([
    ['not json', 'bad_json'],
    ['[1,2]', 'bad_json'],
    ['"text"', 'bad_json'],
    ['null', 'bad_json'],
    ['{}', 'no_fill'],
    ['{"battery_pct":50}', 'no_fill'],
    ['{"fill_pct":"abc"}', 'invalid'],
    ['{"fill_pct":150}', 'out_of_range'],
    ['{"fill_pct":-3}', 'out_of_range'],
    ['{"distance_mm":-1}', 'out_of_range'],
    ['{"fill_pct":50,"battery_pct":101}', 'out_of_range'],
    ['{"fill_pct":50,"tilt":"yes"}', 'invalid'],
    ['{"fill_pct":50,"ts":true}', 'invalid'],
  ])('refuses %s as %s', (payload, reason) => {
    const d = decodeNative(Buffer.from(payload));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toBe(reason);
  });

  it('accepts the SPEC example and ignores unknown keys', () => {
    const d = decodeNative(
      '{"fill_pct": 73.5, "distance_mm": 412, "battery_pct": 88, "temperature_c": 21.4, "tilt": false, "ts": "2026-11-25T16:00:00Z", "firmware": "1.2.3"}',
    );
    expect(d).toEqual({
      ok: true,
      measurement: { fill_pct: 73.5, distance_mm: 412, battery_pct: 88, temperature_c: 21.4, tilt: false, ts: '2026-11-25T16:00:00Z' },
    });
  });
});

describe('fillFromDistance', () => {
  it.each([
    [1050, 0], // empty: offset + depth
    [50, 100], // full: at the offset
    [550, 50],
    [300, 75],
    [1200, 0], // noise past the bottom is clamped
    [10, 100], // above the full line: overfilled, clamped
  ])('distance %i mm -> %f %%', (d, pct) => {
    expect(fillFromDistance(d, bin)).toBe(pct);
  });
});

describe('parseTimestamp', () => {
  it.each([
    ['2026-11-25T16:00:00Z', NOW],
    ['2026-11-25T17:00:00+01:00', NOW],
    ['2026-11-25T16:00:00.250Z', NOW + 250],
    [NOW, NOW],
    [String(NOW), NOW],
    ['yesterday', null],
    ['2026-11-25', null],
    [-5, null],
  ])('%s -> %s', (input, out) => expect(parseTimestamp(input)).toBe(out));
});

describe('toReading', () => {
  it('uses the receive time when ts is missing and converts distance', () => {
    const r = toReading({ distance_mm: 550 }, bin, ctx);
    expect(r).toMatchObject({ ok: true, reading: { binId: 'UTR-0001', ts: NOW, receivedAt: NOW, fillPct: 50, distanceMm: 550 } });
  });

  it('prefers fill_pct when both are sent', () => {
    const r = toReading({ fill_pct: 10, distance_mm: 550 }, bin, ctx);
    expect(r.ok && r.reading.fillPct).toBe(10);
  });

  it('accepts a backlog and up to the allowed clock skew, refuses further in the future', () => {
    expect(toReading({ fill_pct: 1, ts: NOW - 7 * 86_400_000 }, bin, ctx).ok).toBe(true);
    expect(toReading({ fill_pct: 1, ts: NOW + 299_000 }, bin, ctx).ok).toBe(true);
    expect(toReading({ fill_pct: 1, ts: NOW + 3_600_000 }, bin, ctx)).toMatchObject({ ok: false, reason: 'future_ts' });
  });

  it('refuses timestamps that are not times', () => {
    // the detail quotes the ts as sent, cut at 64 characters
    expect(toReading({ fill_pct: 1, ts: 'soon' }, bin, ctx)).toMatchObject({ ok: false, reason: 'bad_ts', detail: expect.stringMatching(/^ts "soon": /) });
    expect(toReading({ fill_pct: 1, ts: 12345 }, bin, ctx)).toMatchObject({ ok: false, reason: 'bad_ts', detail: 'ts 12345 is before 2000: a sensor without a clock' });
    const long = toReading({ fill_pct: 1, ts: 'x'.repeat(100) }, bin, ctx);
    expect(!long.ok && long.detail).toMatch(new RegExp(`^ts "${'x'.repeat(63)}: `));
  });
});

describe('validateMeasurement', () => {
  /** what the schema alone decides (the definition the quick checks keep to) */
  function byZod(value: unknown): unknown {
    const r = measurementSchema.safeParse(value);
    if (!r.success) return { ok: false };
    if (r.data.fill_pct === undefined && r.data.distance_mm === undefined) return { ok: false, reason: 'no_fill' };
    return { ok: true, measurement: Object.fromEntries(Object.entries(r.data).filter(([, v]) => v !== undefined)) };
  }
  const short = (d: Decoded): unknown => (d.ok ? d : d.reason === 'no_fill' ? { ok: false, reason: 'no_fill' } : { ok: false });

  it('decides every field as the schema does, at and beyond its bounds and with values of other types', () => {
    const numbers = [0, 100, -0.0001, 100.0001, 20_000, 20_000.5, -60, -60.5, 500, 500.5, -200, -200.1, 20, 20.1, 50, Number.NaN, Infinity, -Infinity];
    const others = [undefined, null, true, false, 'x', '', '2026-11-25T16:00:00Z', [], {}];
    const pool = [...numbers, ...others];
    const keys = ['fill_pct', 'distance_mm', 'battery_pct', 'temperature_c', 'tilt', 'rssi', 'ts', 'firmware'];
    let seed = 7;
    const next = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
    for (let i = 0; i < 3000; i++) {
      const value: Record<string, unknown> = {};
      for (const k of keys) if (next(3) > 0) value[k] = next(4) === 0 ? pool[next(pool.length)] : k === 'tilt' ? next(2) === 0 : k === 'ts' ? 1_700_000_000_000 + i : 50;
      expect(short(validateMeasurement(value)), JSON.stringify(value)).toEqual(byZod(value));
    }
    for (const v of [null, 'x', 5, [1], [{ fill_pct: 1 }]]) expect(short(validateMeasurement(v))).toEqual(byZod(v));
  });
});
