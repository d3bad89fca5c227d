// The twin's pure parts, table by table: the fixed schedule's interval, the judge of alerts, fault scoring, and
// reading a job off a crew's message.
import { describe, expect, it } from 'vitest';
import { planFaults } from '../../twin/faults.js';
import { fixedSchedule, intervalDays, isRoundDay } from '../../twin/fixed-schedule.js';
import { readJob } from '../../twin/run.js';
import { isFalseAlert, scoreFaults, type OpenedAlert } from '../../twin/scorecard.js';
import type { InjectedFault } from '../../twin/faults.js';

const H = 3_600_000;

describe('fixed schedule', () => {
  it.each([
    // pct per hour of the group's bins -> K: the fastest tenth reaches at most 80 % in K days
    [[0.5, 0.5, 0.5], 6],
    [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1.2], 3], // p90 of ten is the ninth: 1 %/h = 24 %/day
    [[3, 3.5], 1],
    [[10], 1], // never below one day
    [[0.1], 33],
  ])('rates %j: every %i days', (rates, k) => expect(intervalDays(rates)).toBe(k));

  it('spreads ceil(7 / K) round days over the week, and K >= 7 on one weekday every floor(K / 7) weeks', () => {
    const bins = (rate: number, zone: string) => [{ id: `${zone}-1`, zone, kind: 'rest', fillRatePerHour: rate }];
    const [every3] = fixedSchedule(bins(1.1, 'a')); // 26.4 %/day: K = 3
    expect(every3!.everyDays).toBe(3);
    expect(every3!.weekdays).toHaveLength(3);
    const [biweekly] = fixedSchedule(bins(0.2, 'b')); // 4.8 %/day: K = 16
    expect(biweekly).toMatchObject({ everyDays: 16, weeks: 2 });
    expect(biweekly!.weekdays).toHaveLength(1);
    const wd = biweekly!.weekdays[0]!;
    expect([0, 7, 14, 21].map((d) => isRoundDay(biweekly!, d + ((wd - 1 + 7) % 7), wd))).toEqual([true, false, true, false]);
  });
});

describe('false alerts', () => {
  const rules = { full_pct: 80 };
  const fault = (kind: InjectedFault['kind'], startMs: number, endMs: number): InjectedFault => ({ binId: 'B', kind, startMs, endMs, durationMs: endMs - startMs });
  const alert = (type: string, at: number): OpenedAlert => ({ id: 1, binId: 'B', type, at, cause: null });
  it.each([
    ['full at 90 % true', 'full', { fillPct: 90, fillInHorizonPct: 95 }, [], false],
    ['full at 60 % that reaches 80 % in the horizon', 'full', { fillPct: 60, fillInHorizonPct: 82 }, [], false],
    ['full at 70 % (within 15 of full_pct)', 'full', { fillPct: 70, fillInHorizonPct: 72 }, [], false],
    ['full at 40 % that stays below', 'full', { fillPct: 40, fillInHorizonPct: 55 }, [], true],
    ['fire during a fire', 'fire', { fillPct: 0, fillInHorizonPct: 0 }, [fault('fire', 0, H)], false],
    ['fire without one', 'fire', { fillPct: 0, fillInHorizonPct: 0 }, [fault('tilt', 0, H)], true],
    ['offline while silent', 'offline', { fillPct: 0, fillInHorizonPct: 0 }, [fault('silent', 0, 4 * H)], false],
    ['sensor_suspect while stuck', 'sensor_suspect', { fillPct: 0, fillInHorizonPct: 0 }, [fault('stuck', 0, 20 * H)], false],
    ['sensor_suspect on a sound sensor', 'sensor_suspect', { fillPct: 30, fillInHorizonPct: 35 }, [], true],
    ['tilt long after the tilt ended', 'tilt', { fillPct: 0, fillInHorizonPct: 0 }, [fault('tilt', -5 * H, -2 * H)], true],
    ['battery_low is not judged', 'battery_low', { fillPct: 0, fillInHorizonPct: 0 }, [], false],
  ] as const)('%s', (_name, type, truth, faults, expected) => {
    expect(isFalseAlert(alert(type, H / 2), truth, faults, rules)).toBe(expected);
  });

  it('scores each fault by the first alert of its detector while it lasts', () => {
    const faults = [fault('fire', 0, H), fault('stuck', 0, 20 * H)];
    const score = scoreFaults(faults, [alert('fire', H / 4), alert('fire', H / 2), alert('tilt', H)]);
    expect(score.fire).toEqual({ injected: 1, detected: 1, median_delay_min: 15 });
    expect(score.stuck).toEqual({ injected: 1, detected: 0, median_delay_min: null });
    expect(score.silent.injected).toBe(0);
  });
});

describe('twin plumbing', () => {
  it('injects each kind at least once, one fault per bin, inside the run', () => {
    const ids = Array.from({ length: 20 }, (_, i) => `B${i}`);
    const plan = planFaults(ids, { startMs: 0, days: 2, seed: 3, slotMs: 15 * 60_000, offlineAfterMs: 2 * H });
    expect(new Set(plan.map((f) => f.kind))).toEqual(new Set(['fire', 'stuck', 'tilt', 'silent']));
    expect(new Set(plan.map((f) => f.binId)).size).toBe(plan.length);
    for (const f of plan) {
      expect(f.startMs % (15 * 60_000)).toBe(0);
      expect(f.startMs).toBeGreaterThanOrEqual(6 * H);
      expect(f.endMs).toBeLessThanOrEqual(2 * 24 * H);
    }
    expect(planFaults(ids, { startMs: 0, days: 2, seed: 3, slotMs: 15 * 60_000, offlineAfterMs: 2 * H })).toEqual(plan);
  });

  it('reads the job id and its stops off a crew message, whatever its language', () => {
    const bins = new Set(['UTR-0001', 'UTR-0002', 'UTR-0003']);
    const buttons = {
      type: 'interactive',
      interactive: { body: { text: 'Opdracht J-7K3QX: 2 containers legen\n1. UTR-0002 Oudegracht 25 (85%)\n2. UTR-0001 Oudegracht 11' }, action: { buttons: [{ reply: { id: 'accept:J-7K3QX' } }, { reply: { id: 'done:J-7K3QX' } }] } },
    };
    expect(readJob(buttons, bins)).toEqual({ id: 'J-7K3QX', binIds: ['UTR-0002', 'UTR-0001'] });
    // the reply to an Accept carries only Done: not a new job
    expect(readJob({ type: 'interactive', interactive: { action: { buttons: [{ reply: { id: 'done:J-7K3QX' } }] } } }, bins)).toBeNull();
  });
});
