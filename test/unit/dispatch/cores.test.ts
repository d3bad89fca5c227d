import { describe, expect, it } from 'vitest';
import { planJobs } from '../../../src/dispatch/batcher.js';
import { crewIntent, templateParams } from '../../../src/dispatch/crew-messages.js';
import { mapLink, routeKm, routeOrder } from '../../../src/dispatch/route.js';
import { crewsOnShift, localMinutes, onShift } from '../../../src/dispatch/shift.js';

describe('routeOrder', () => {
  const a = { id: 'A', lat: 52.09, lon: 5.1 };
  const b = { id: 'B', lat: 52.1, lon: 5.1 };
  const c = { id: 'C', lat: 52.091, lon: 5.1 };
  const d = { id: 'D', lat: 52.2, lon: 5.1 };
  it.each([
    [[a], ['A']],
    [[a, b], ['A', 'B']],
    [[a, b, c], ['A', 'C', 'B']],
    [[a, d, b, c], ['A', 'C', 'B', 'D']],
    [[d, a, b, c], ['D', 'B', 'C', 'A']],
  ])('starts at the first bin and goes to the nearest next: %#', (stops, ids) => {
    expect(routeOrder(stops).map((s) => s.id)).toEqual(ids);
  });

  it('is never longer than the order it was given', () => {
    const stops = [a, d, b, c];
    expect(routeKm(routeOrder(stops))).toBeLessThanOrEqual(routeKm(stops));
  });

  it('keeps the Maps link within 9 waypoints and the template parameters within 1024 characters', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ id: `B-${i}`, lat: 52 + i / 1000, lon: 5, address: `A very long street name number ${i}` }));
    const link = mapLink(many);
    expect(new URL(link).searchParams.get('waypoints')!.split('|')).toHaveLength(9);
    const params = templateParams({ jobId: 'J-1', zoneName: 'z'.repeat(2000), stops: many.map((b) => ({ ...b, fillPct: 90 })), map: link + '&x=' + 'y'.repeat(2000) });
    expect(Math.max(...params.map((p) => p.length))).toBeLessThanOrEqual(1024);
  });

  it('links the stops as a driving route', () => {
    const u = new URL(mapLink([a, c, b]));
    expect(u.searchParams.get('origin')).toBe('52.090000,5.100000');
    expect(u.searchParams.get('destination')).toBe('52.100000,5.100000');
    expect(u.searchParams.get('waypoints')).toBe('52.091000,5.100000');
    expect(new URL(mapLink([a])).searchParams.get('destination')).toBe('52.090000,5.100000');
  });
});

describe('shifts', () => {
  it.each([
    ['06:00-22:00', 5 * 60 + 59, false],
    ['06:00-22:00', 6 * 60, true],
    ['06:00-22:00', 21 * 60 + 59, true],
    ['06:00-22:00', 22 * 60, false],
    ['22:00-06:00', 23 * 60, true],
    ['22:00-06:00', 3 * 60, true],
    ['22:00-06:00', 12 * 60, false],
    ['00:00-24:00', 0, true],
    ['00:00-24:00', 23 * 60 + 59, true],
  ])('%s at minute %i -> %s', (shift, minute, on) => expect(onShift(shift, minute)).toBe(on));

  it('reads local time in the configured zone, summer and winter', () => {
    expect(localMinutes(Date.parse('2026-01-15T05:30:00Z'), 'Europe/Amsterdam')).toBe(6 * 60 + 30);
    expect(localMinutes(Date.parse('2026-07-15T05:30:00Z'), 'Europe/Amsterdam')).toBe(7 * 60 + 30);
  });

  it('picks the crews of the zone that are on shift, in config order', () => {
    const crews = [
      { id: 'day', zones: ['centrum'], shift: '06:00-22:00' },
      { id: 'night', zones: ['centrum'], shift: '22:00-06:00' },
      { id: 'other', zones: ['oost'], shift: '00:00-24:00' },
    ];
    expect(crewsOnShift(crews, 'centrum', Date.parse('2026-01-15T11:00:00Z'), 'Europe/Amsterdam').map((c) => c.id)).toEqual(['day']);
    expect(crewsOnShift(crews, 'centrum', Date.parse('2026-01-15T23:30:00Z'), 'Europe/Amsterdam').map((c) => c.id)).toEqual(['night']);
    expect(crewsOnShift(crews, 'west', Date.parse('2026-01-15T11:00:00Z'), 'Europe/Amsterdam')).toEqual([]);
  });
});

describe('planJobs', () => {
  const q = (binId: string, zone: string, queuedAt: number, urgent = false) => ({ binId, zone, queuedAt, urgent });
  const none = () => false;
  it.each([
    ['window 0 sends at once', [q('A', 'z1', 1000)], 1000, 0, [['z1', ['A']]], []],
    ['waits for the window', [q('A', 'z1', 1000)], 1000 + 299_000, 300_000, [], ['A']],
    ['sends the zone when its oldest bin has waited the window', [q('A', 'z1', 1000), q('B', 'z1', 200_000)], 301_000, 300_000, [['z1', ['A', 'B']]], []],
    ['one job per zone', [q('A', 'z1', 0), q('B', 'z2', 0), q('C', 'z1', 0)], 0, 0, [['z1', ['A', 'C']], ['z2', ['B']]], []],
    ['zones wait independently', [q('A', 'z1', 0), q('B', 'z2', 250_000)], 300_000, 300_000, [['z1', ['A']]], ['B']],
    ['fire goes alone and at once', [q('A', 'z1', 1000), q('F', 'z1', 1000, true)], 1000, 300_000, [['z1', ['F']]], ['A']],
  ] as const)('%s', (_name, queue, now, windowMs, jobs, waiting) => {
    const r = planJobs(queue, now, windowMs, none);
    expect(r.jobs.map((j) => [j.zone, j.binIds])).toEqual(jobs);
    expect(r.waiting.map((w) => w.binId)).toEqual(waiting);
  });

  it('cuts a long queue into jobs of at most maxBinsPerJob bins', () => {
    const queue = ['A', 'B', 'C', 'D', 'E'].map((id) => q(id, 'z1', 0));
    expect(planJobs(queue, 0, 0, none, 2).jobs.map((j) => j.binIds)).toEqual([['A', 'B'], ['C', 'D'], ['E']]);
  });

  it('never plans a bin that is already in an open job', () => {
    const r = planJobs([q('A', 'z1', 0), q('B', 'z1', 0)], 0, 0, (id) => id === 'A');
    expect(r.jobs.map((j) => j.binIds)).toEqual([['B']]);
    expect(r.dropped).toEqual(['A']);
  });
});

describe('crewIntent', () => {
  it.each([
    [{ buttonReplyId: 'accept:J-7K3QX' }, { action: 'accept', jobId: 'J-7K3QX' }],
    [{ buttonReplyId: 'done:J-7K3QX' }, { action: 'done', jobId: 'J-7K3QX' }],
    [{ buttonPayload: 'done:J-ABCDE' }, { action: 'done', jobId: 'J-ABCDE' }],
    [{ text: 'done' }, { action: 'done' }],
    [{ text: 'Klaar!' }, { action: 'done' }],
    [{ text: 'klaar met J-7k3qx' }, { action: 'done', jobId: 'J-7K3QX' }],
    [{ text: 'gedaan' }, { action: 'done' }],
    [{ text: 'OK' }, { action: 'accept' }],
    [{ text: 'accept J-ABCDE' }, { action: 'accept', jobId: 'J-ABCDE' }],
    [{ text: 'ja' }, { action: 'accept' }],
    [{ text: 'where is the depot?' }, null],
    [{ text: 'not done yet' }, null],
    [{}, null],
  ])('%o -> %o', (m, intent) => expect(crewIntent(m)).toEqual(intent));
});
