// A reading's `ts` is a claim about when it was measured: only real instants are accepted, never one that
// Date.parse would quietly roll over (30 February -> 2 March), nor numbers beyond what a Date can hold.
import { describe, expect, it } from 'vitest';
import { decodeChirpstackUplink, decodeTtnUplink, parseTimestamp, toReading } from '../../../src/ingest/index.js';

const NOW = Date.parse('2026-11-25T16:00:00Z');
const MAX_DATE_MS = 8.64e15;

describe('parseTimestamp accepts real instants', () => {
  it.each<[string | number, number]>([
    ['2026-11-25T16:00:00Z', NOW],
    ['2026-11-25T16:00Z', NOW],
    ['2026-11-25T17:00:00+01:00', NOW],
    ['2026-11-25T17:00:00+0100', NOW],
    ['2026-11-25T16:00:00-00:00', NOW],
    ['2026-11-26T06:00:00+14:00', NOW], // Kiribati, the furthest offset in use
    ['2026-11-25T04:00:00-12:00', NOW],
    ['2026-11-25T16:00:00.250Z', NOW + 250],
    // network servers send nanoseconds (TTS, ChirpStack); below a millisecond is dropped, as Date does
    ['2026-11-25T15:59:59.401234567Z', NOW - 599],
    ['2026-11-25T15:59:59.999999999+00:00', NOW - 1],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)], // divisible by 400: a leap year
    ['2026-01-31T23:59:59Z', Date.UTC(2026, 0, 31, 23, 59, 59)],
    ['2026-04-30T00:00:00Z', Date.UTC(2026, 3, 30)],
    ['2026-12-31T23:59:59Z', Date.UTC(2026, 11, 31, 23, 59, 59)],
    // a leap second (RFC 3339 5.7: at the end of June or December, UTC) counts as the last millisecond before it
    ['2016-12-31T23:59:60Z', Date.UTC(2016, 11, 31, 23, 59, 59, 999)],
    ['2017-01-01T00:59:60.5+01:00', Date.UTC(2016, 11, 31, 23, 59, 59, 999)],
    ['2015-06-30T23:59:60Z', Date.UTC(2015, 5, 30, 23, 59, 59, 999)],
    [NOW, NOW],
    [NOW + 0.7, NOW], // fractions of a millisecond are dropped, like an ISO time's
    [String(NOW), NOW],
    [MAX_DATE_MS, MAX_DATE_MS],
    ['8640000000000000', MAX_DATE_MS],
  ])('%s -> %s', (input, out) => expect(parseTimestamp(input)).toBe(out));
});

describe('parseTimestamp refuses what is no instant', () => {
  it.each<[string, string | number]>([
    ['30 February', '2026-02-30T00:00:00Z'],
    ['31 April', '2026-04-31T00:00:00Z'],
    ['31 June', '2026-06-31T12:00:00Z'],
    ['29 February of a common year', '2025-02-29T00:00:00Z'],
    ['29 February of a century that is no leap year', '2100-02-29T00:00:00Z'],
    ['day 32', '2026-01-32T00:00:00Z'],
    ['day 0', '2026-01-00T00:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['month 0', '2026-00-10T00:00:00Z'],
    ['hour 24', '2026-11-25T24:00:00Z'],
    ['hour 25', '2026-11-25T25:00:00Z'],
    ['minute 60', '2026-11-25T16:60:00Z'],
    ['second 61', '2026-11-25T23:59:61Z'],
    ['second 60 outside a leap second', '2026-11-25T16:00:60Z'],
    ['second 60 at the end of a month that takes none', '2026-11-30T23:59:60Z'],
    ['offset beyond +14:00', '2026-11-25T16:00:00+14:01'],
    ['offset of 15 hours', '2026-11-25T16:00:00+15:00'],
    ['offset beyond -14:00', '2026-11-25T16:00:00-14:30'],
    ['offset minute 60', '2026-11-25T16:00:00+01:60'],
    ['offset 24:00', '2026-11-25T16:00:00+2400'],
    ['more than nanoseconds', '2026-11-25T16:00:00.1234567890Z'],
    ['no offset (local time of an unknown place)', '2026-11-25T16:00:00'],
    ['a date without a time', '2026-11-25'],
    ['a leading space', ' 2026-11-25T16:00:00Z'],
    ['a six-digit year', '+002026-11-25T16:00:00Z'],
    ['words', 'yesterday'],
    ['a number with leading zeros', `000${NOW}`],
    ['a numeric string beyond the Date range', '8640000000000001'],
    ['a numeric string of 400 digits', '1'.repeat(400)],
    ['a numeric string with a fraction', `${NOW}.5`],
    ['a negative numeric string', `-${NOW}`],
    ['a numeric string with spaces', ` ${NOW}`],
    ['an empty string', ''],
    ['epoch ms beyond the Date range', MAX_DATE_MS + 1],
    ['a huge number', 1e300],
    ['Number.MAX_VALUE', Number.MAX_VALUE],
    ['infinity', Infinity],
    ['NaN', NaN],
    ['zero', 0],
    ['a negative number', -5],
    ['a negative time', -NOW],
  ])('%s (%s)', (_what, input) => expect(parseTimestamp(input)).toBeNull());
});

describe('toReading with impossible times', () => {
  const bin = { id: 'UTR-0001', depth_mm: 1000, sensor_offset_mm: 50 };
  const ctx = { now: NOW, maxFutureMs: 300_000, source: 'mqtt' as const };

  it('refuses 30 February as bad_ts and says why', () => {
    const r = toReading({ fill_pct: 50, ts: '2026-02-30T00:00:00Z' }, bin, ctx);
    expect(r).toMatchObject({ ok: false, reason: 'bad_ts' });
    expect(!r.ok && r.detail).toMatch(/2026-02 has no day 30/);
  });

  it('refuses a numeric string of 400 digits as bad_ts, not as a time in the future', () => {
    expect(toReading({ fill_pct: 50, ts: '9'.repeat(400) }, bin, ctx)).toMatchObject({ ok: false, reason: 'bad_ts' });
  });

  it('still refuses the far future as future_ts', () => {
    expect(toReading({ fill_pct: 50, ts: '2026-11-25T16:05:01Z' }, bin, ctx)).toMatchObject({ ok: false, reason: 'future_ts' });
    expect(toReading({ fill_pct: 50, ts: MAX_DATE_MS }, bin, ctx)).toMatchObject({ ok: false, reason: 'future_ts' });
  });
});

describe('LoRaWAN network times go through the same parser', () => {
  const bin = { id: 'UTR-0001', depth_mm: 1000, sensor_offset_mm: 50 };
  const ctx = { now: NOW, maxFutureMs: 300_000, source: 'ttn' as const };
  const TTN_UP = 'v3/city-bins@ttn/devices/eui-70b3d57ed005b89a/up';
  const CS_UP = 'application/17c82e96/device/24e124713d123456/event/up';
  const ttn = (receivedAt: string): Buffer =>
    Buffer.from(JSON.stringify({ end_device_ids: { device_id: 'eui-70b3d57ed005b89a' }, uplink_message: { f_port: 1, decoded_payload: { fill: 40 }, received_at: receivedAt } }));
  const chirpstack = (time: string): Buffer =>
    Buffer.from(JSON.stringify({ deviceInfo: { devEui: '24E124713D123456' }, time, fPort: 1, object: { fill: 40 }, rxInfo: [] }));
  const read = (decoded: ReturnType<typeof decodeTtnUplink>['decoded']) => {
    if (!decoded.ok) throw new Error(decoded.detail);
    return toReading(decoded.measurement, bin, ctx);
  };

  it.each([
    ['TTS received_at', (t: string) => decodeTtnUplink(TTN_UP, ttn(t)).decoded],
    ['ChirpStack time', (t: string) => decodeChirpstackUplink(CS_UP, chirpstack(t)).decoded],
  ])('%s: nanoseconds and +00:00 read, 30 February refused', (_what, decode) => {
    expect(read(decode('2026-11-25T15:59:59.401234567+00:00'))).toMatchObject({ ok: true, reading: { ts: NOW - 599 } });
    expect(read(decode('2026-02-30T15:59:59.401234567Z'))).toMatchObject({ ok: false, reason: 'bad_ts' });
    expect(read(decode('2026-11-25T24:00:00Z'))).toMatchObject({ ok: false, reason: 'bad_ts' });
  });
});
