import { describe, expect, it } from 'vitest';
import {
  createBinModel,
  dailyFactor,
  fillFromDistance,
  type BinModel,
  type BinModelOptions,
  type ModelBin,
  type StepResult,
} from '../../../firmware-sim/bin-model.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
// a Wednesday, midnight UTC
const START = Date.parse('2026-11-25T00:00:00Z');
const BIN: ModelBin = { id: 'RTM-001', zone: 'centrum', kind: 'rest', depth_mm: 1000, sensor_offset_mm: 50 };

function run(model: BinModel, fromMs: number, durationMs: number, everyMs: number): StepResult[] {
  const results: StepResult[] = [];
  for (let t = fromMs; t <= fromMs + durationMs; t += everyMs) results.push(model.step(t));
  return results;
}

const model = (opts: Partial<BinModelOptions> = {}, seed = 1, bin = BIN) => createBinModel(bin, seed, { startTimeMs: START, ...opts });

describe('bin model', () => {
  it('gives the same series for the same seed, another for another seed', () => {
    const rates = { stuck: 1, tilt: 1, fire: 0.5, silent: 1 };
    const a = run(model({ faultRates: rates }), START, 3 * DAY, 10 * MINUTE);
    const b = run(model({ faultRates: rates }), START, 3 * DAY, 10 * MINUTE);
    const c = run(model({ faultRates: rates }, 2), START, 3 * DAY, 10 * MINUTE);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('gives each bin its own series from one seed', () => {
    const a = run(model(), START, DAY, HOUR).map((r) => r.reading?.distance_mm);
    const b = run(model({}, 1, { ...BIN, id: 'RTM-002' }), START, DAY, HOUR).map((r) => r.reading?.distance_mm);
    expect(b).not.toEqual(a);
  });

  it('fills over a day, more at midday and evening than at night', () => {
    const results = run(model({ initialFillPct: 0 }), START, 20 * HOUR, 10 * MINUTE);
    const fill = (h: number) => results[h * 6]?.fillPct ?? Number.NaN;
    expect(fill(20)).toBeGreaterThan(fill(0) + 15);
    const night = fill(5) - fill(1);
    const midday = fill(14) - fill(10);
    expect(midday).toBeGreaterThan(2 * night);
    expect(dailyFactor(3)).toBeLessThan(0.5);
    expect(dailyFactor(12.5)).toBeGreaterThan(1.2);
    expect(dailyFactor(19)).toBeGreaterThan(1.2);
  });

  it('is emptied by a crew after filling up, back to 0-5 %', () => {
    const results = run(model({ initialFillPct: 50 }), START, 7 * DAY, 10 * MINUTE);
    const i = results.findIndex((r) => r.collected);
    expect(i).toBeGreaterThan(0);
    expect(results[i - 1]?.fillPct).toBeGreaterThan(80);
    expect(results[i]?.fillPct).toBeLessThan(6);
    const max = Math.max(...results.map((r) => r.fillPct));
    expect(max).toBeLessThanOrEqual(105);
  });

  it('empties bins on the zone collection day even when not full', () => {
    const glass: ModelBin = { ...BIN, id: 'G-1', zone: 'noord', kind: 'glass' };
    const results = run(model({ initialFillPct: 20 }, 1, glass), START, 8 * DAY, 10 * MINUTE);
    const collections = results.filter((r) => r.collected);
    expect(collections.length).toBeGreaterThanOrEqual(1);
  });

  it('reports a distance that the bridge converts back to the fill level', () => {
    const results = run(model({ noiseSdMm: 0, spuriousEchoRate: 0, initialFillPct: 10 }), START, 2 * DAY, 15 * MINUTE);
    for (const r of results) {
      expect(r.reading).not.toBeNull();
      expect(fillFromDistance(r.reading?.distance_mm ?? 0, BIN)).toBeCloseTo(r.fillPct, 0);
    }
    expect(fillFromDistance(50, BIN)).toBe(100);
    expect(fillFromDistance(1050, BIN)).toBe(0);
  });

  it('adds bounded ultrasonic noise, sd about 8 mm, and rare spurious echoes', () => {
    const m = model({ initialFillPct: 30 });
    const errors: number[] = [];
    let spurious = 0;
    for (let t = START, n = 0; n < 5000; n++, t += 1000) {
      const r = m.step(t);
      if (r.spuriousEcho) {
        spurious++;
        continue;
      }
      const truth = BIN.sensor_offset_mm + BIN.depth_mm * (1 - r.fillPct / 100);
      errors.push((r.reading?.distance_mm ?? 0) - truth);
    }
    expect(Math.max(...errors.map(Math.abs))).toBeLessThanOrEqual(33);
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    const sd = Math.sqrt(errors.reduce((a, b) => a + (b - mean) ** 2, 0) / errors.length);
    expect(Math.abs(mean)).toBeLessThan(1);
    expect(sd).toBeGreaterThan(6.5);
    expect(sd).toBeLessThan(9.5);
    expect(spurious).toBeLessThan(50);
  });

  it('drains the battery reading by reading', () => {
    const results = run(model({ initialBatteryPct: 90 }), START, DAY, 10_000);
    const battery = results.map((r) => r.reading?.battery_pct ?? Number.NaN);
    expect(battery.at(-1)).toBeLessThan(90 - 8640 * 0.002 + 0.1);
    expect(battery.at(-1)).toBeGreaterThan(60);
    for (let i = 1; i < battery.length; i++) expect(battery[i]).toBeLessThanOrEqual(battery[i - 1] ?? 0);
  });

  it('reports a temperature following the day around a seasonal mean', () => {
    const results = run(model(), START, DAY, 10 * MINUTE);
    const temps = results.map((r) => r.reading?.temperature_c ?? Number.NaN);
    for (const t of temps) expect(t).toBeGreaterThan(-10);
    for (const t of temps) expect(t).toBeLessThan(20);
    // warmer in the afternoon than before dawn
    expect(temps[15 * 6] ?? 0).toBeGreaterThan((temps[4 * 6] ?? 0) + 4);
  });

  describe('forced faults', () => {
    it('stuck: the same distance for hours while the bin fills, then live again', () => {
      const m = model({ initialFillPct: 10 });
      m.step(START);
      m.startFault('stuck', 4 * HOUR);
      const during = run(m, START + 10 * MINUTE, 3 * HOUR, 10 * MINUTE);
      expect(new Set(during.map((r) => r.reading?.distance_mm)).size).toBe(1);
      expect(during.every((r) => r.faults.includes('stuck'))).toBe(true);
      expect((during.at(-1)?.fillPct ?? 0) - (during[0]?.fillPct ?? 0)).toBeGreaterThan(1);
      const after = run(m, START + 5 * HOUR, HOUR, 10 * MINUTE);
      expect(after.some((r) => r.faults.includes('stuck'))).toBe(false);
      expect(new Set(after.map((r) => r.reading?.distance_mm)).size).toBeGreaterThan(1);
    });

    it('tilt: tilt true and erratic distance until it ends', () => {
      const m = model({ initialFillPct: 40 });
      m.step(START);
      m.startFault('tilt', HOUR);
      const during = run(m, START + MINUTE, 50 * MINUTE, MINUTE);
      expect(during.every((r) => r.reading?.tilt === true)).toBe(true);
      const d = during.map((r) => r.reading?.distance_mm ?? 0);
      expect(Math.max(...d) - Math.min(...d)).toBeGreaterThan(500);
      const after = m.step(START + 2 * HOUR);
      expect(after.reading?.tilt).toBe(false);
      expect(after.faults).toEqual([]);
    });

    it('fire: temperature rises several degrees a minute to 80-200 °C, then ends', () => {
      const m = model();
      m.step(START);
      m.startFault('fire');
      const series = run(m, START + 10_000, 2 * HOUR, 10_000);
      const temps = series.map((r) => r.reading?.temperature_c ?? 0);
      const peak = Math.max(...temps);
      expect(peak).toBeGreaterThanOrEqual(80);
      expect(peak).toBeLessThanOrEqual(200);
      // 10 s steps: 3-8 °C per minute while rising
      const rise = (temps[6] ?? 0) - (temps[0] ?? 0);
      expect(rise).toBeGreaterThan(2.5);
      expect(rise).toBeLessThan(9);
      expect(series[0]?.faults).toContain('fire');
      expect(series.at(-1)?.faults).not.toContain('fire');
      expect(temps.at(-1)).toBeLessThan(30);
    });

    it('silent: no reading while it lasts', () => {
      const m = model();
      m.step(START);
      m.startFault('silent', 2 * HOUR);
      const during = run(m, START + MINUTE, HOUR, 10 * MINUTE);
      expect(during.every((r) => r.reading === null && r.faults.includes('silent'))).toBe(true);
      expect(m.step(START + 3 * HOUR).reading).not.toBeNull();
    });
  });

  it('starts faults at about the configured rate per simulated day', () => {
    const m = model({ faultRates: { stuck: 0, tilt: 2, fire: 0, silent: 0 } });
    let starts = 0;
    let active = false;
    for (let t = START; t <= START + 30 * DAY; t += 10 * MINUTE) {
      const now = m.step(t).faults.includes('tilt');
      if (now && !active) starts++;
      active = now;
    }
    // rate 2/day, but no new start while one lasts (15 min - 6 h)
    expect(starts).toBeGreaterThan(25);
    expect(starts).toBeLessThan(70);
  });

  it('never goes back in time', () => {
    const m = model();
    const a = m.step(START + HOUR);
    const b = m.step(START);
    expect(b.reading?.ts).toBe(a.reading?.ts);
  });
});

describe('bin model emptied from outside (the city twin)', () => {
  it('is never emptied on its own when selfCollect is off: it fills up to its cap and stays there', () => {
    const results = run(model({ initialFillPct: 50, selfCollect: false }), START, 14 * DAY, 15 * MINUTE);
    expect(results.some((r) => r.collected)).toBe(false);
    expect(results.at(-1)!.fillPct).toBeGreaterThanOrEqual(100);
    expect(Math.max(...results.map((r) => r.fillPct))).toBeLessThanOrEqual(105);
  });

  it('is emptied when a crew lifts it: empty() gives the fill it had at that moment and the next step sees the drop', () => {
    const m = model({ initialFillPct: 40, selfCollect: false, noiseSdMm: 0, spuriousEchoRate: 0 });
    const before = m.step(START + 6 * HOUR).fillPct;
    const lifted = m.empty(START + 7 * HOUR);
    expect(lifted).toBeGreaterThan(before);
    const after = m.step(START + 7 * HOUR + 15 * MINUTE);
    expect(after.collected).toBe(true);
    expect(after.fillPct).toBeLessThan(6);
    expect(fillFromDistance(after.reading!.distance_mm, BIN)).toBeLessThan(6);
  });

  it('tells its mean fill rate, what a planner without sensors learns from past rounds', () => {
    const glass: ModelBin = { ...BIN, id: 'G-2', zone: 'noord', kind: 'glass' };
    const m = model({ initialFillPct: 0, selfCollect: false, spuriousEchoRate: 0 }, 1, glass);
    expect(m.fillRatePerHour).toBeGreaterThan(0);
    // three days' fill (well below the cap) is the mean rate times the hours, give or take the rhythms and jitter
    const filled = run(m, START, 3 * DAY, HOUR).at(-1)!.fillPct;
    expect(filled / (72 * m.fillRatePerHour)).toBeGreaterThan(0.7);
    expect(filled / (72 * m.fillRatePerHour)).toBeLessThan(1.3);
  });
});
