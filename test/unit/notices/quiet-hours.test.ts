import { describe, expect, it } from 'vitest';
import { quietUntil } from '../../../src/notices/quiet-hours.js';

const AMS = 'Europe/Amsterdam';
const at = (s: string) => Date.parse(s);

describe('quietUntil', () => {
  it.each([
    ['20:59 local (CET) is before the quiet hours', '2026-12-02T19:59:00Z', '21:00-08:00', null],
    ['21:00 local starts them; they end at 08:00 local the next day', '2026-12-02T20:00:00Z', '21:00-08:00', '2026-12-03T07:00:00.000Z'],
    ['after midnight they end the same morning', '2026-12-03T02:30:45Z', '21:00-08:00', '2026-12-03T07:00:00.000Z'],
    ['08:00 local is outside', '2026-12-03T07:00:00Z', '21:00-08:00', null],
    ['summer time (CEST): 22:00 local ends at 06:00Z', '2026-07-01T20:00:00Z', '21:00-08:00', '2026-07-02T06:00:00.000Z'],
    ['across the switch to winter time the end is still 08:00 local', '2026-10-24T20:00:00Z', '21:00-08:00', '2026-10-25T07:00:00.000Z'],
    ['across the switch to summer time too', '2026-03-28T21:00:00Z', '21:00-08:00', '2026-03-29T06:00:00.000Z'],
    ['quiet hours within one day', '2026-12-02T12:30:00Z', '12:00-14:00', '2026-12-02T13:00:00.000Z'],
    ['equal ends: none', '2026-12-02T22:00:00Z', '00:00-00:00', null],
    ['to 24:00', '2026-12-02T22:30:00Z', '22:00-24:00', '2026-12-02T23:00:00.000Z'],
  ])('%s', (_name, now, spec, expected) => {
    const r = quietUntil(at(now), spec, AMS);
    expect(r === null ? null : new Date(r).toISOString()).toBe(expected);
  });

  it('refuses a malformed spec', () => {
    expect(() => quietUntil(0, '9-17', AMS)).toThrow(/expected "HH:MM-HH:MM"/);
  });
});
