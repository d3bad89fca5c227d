// A short city twin (2 days, 50 bins, both strategies) as CI runs it: the scorecard must add up, whatever the
// figures are. The long run and its figures are in docs/twin.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAULT_KINDS } from '../../firmware-sim/bin-model.js';
import { renderReport } from '../../twin/report.js';
import { runTwin, type TwinResult } from '../../twin/twin.js';

const STRATEGY_KEYS = [
  'lifts',
  'lifts_per_bin_week',
  'mean_fill_at_lift_pct',
  'overflow_bin_hours',
  'bins_overflowed',
  'truck_km',
  'jobs',
  'messages',
  'alerts',
  'false_alerts',
  'false_alerts_per_1000_bin_days',
].sort();

describe('the city twin, 2 days of 50 bins', () => {
  let result: TwinResult;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-twin-test-'));
    const bins = path.join(dir, 'bins.csv');
    fs.writeFileSync(bins, fs.readFileSync('config/bins.example.csv', 'utf8').trim().split('\n').slice(0, 51).join('\n') + '\n');
    result = await runTwin({ binsFile: bins, days: 2, seed: 7, strategies: ['binbridge', 'fixed'] });
  }, 600_000);

  it('prints the scorecard in the shape issue 10 gives', () => {
    const card = JSON.parse(JSON.stringify(result.scorecard)) as Record<string, unknown>;
    expect(Object.keys(card).sort()).toEqual(['bins', 'days', 'faults', 'seed', 'strategies', 'wall_s']);
    expect(card).toMatchObject({ bins: 50, days: 2, seed: 7 });
    expect(card.wall_s).toBeGreaterThan(0);
    const strategies = card.strategies as Record<string, Record<string, unknown>>;
    expect(Object.keys(strategies).sort()).toEqual(['binbridge', 'fixed']);
    for (const s of Object.values(strategies)) {
      expect(Object.keys(s).sort()).toEqual(STRATEGY_KEYS);
      for (const k of STRATEGY_KEYS.filter((k) => k !== 'alerts')) expect(typeof s[k]).toBe('number');
      for (const n of Object.values(s.alerts as Record<string, number>)) expect(Number.isInteger(n)).toBe(true);
    }
    const faults = card.faults as Record<string, Record<string, unknown>>;
    expect(Object.keys(faults).sort()).toEqual([...FAULT_KINDS].sort());
    for (const f of Object.values(faults)) expect(Object.keys(f).sort()).toEqual(['detected', 'injected', 'median_delay_min']);
  });

  it('counts every lift in a job, and lifts no bin that was not in its job', () => {
    for (const run of result.runs) {
      expect(run.score.lifts).toBe(run.lifts.length);
      expect(run.lifts.length).toBeGreaterThan(0);
      const perJob = new Map<string, string[]>();
      for (const lift of run.lifts) {
        expect(run.jobs.get(lift.jobId), `${run.strategy}: ${lift.binId} lifted in unknown job ${lift.jobId}`).toBeDefined();
        expect(run.jobs.get(lift.jobId)).toContain(lift.binId);
        perJob.set(lift.jobId, [...(perJob.get(lift.jobId) ?? []), lift.binId]);
      }
      // lifts = the sum over the jobs of the bins each job lifted, each at most once
      expect([...perJob.values()].reduce((n, bins) => n + bins.length, 0)).toBe(run.score.lifts);
      for (const [job, bins] of perJob) expect(new Set(bins).size, `job ${job} lifted a bin twice`).toBe(bins.length);
      expect(run.score.jobs).toBe(run.jobs.size);
      expect(run.perDay.lifts.reduce((a, b) => a + b, 0)).toBe(run.score.lifts);
    }
  });

  it('sends the binbridge crews their jobs over the sandbox; the fixed rounds need no message', () => {
    const [binbridge, fixed] = [result.scorecard.strategies.binbridge!, result.scorecard.strategies.fixed!];
    expect(binbridge.jobs).toBeGreaterThan(0);
    expect(binbridge.messages).toBeGreaterThanOrEqual(binbridge.jobs);
    expect(fixed.messages).toBe(0);
  });

  it('counts every injected fault once, and no more found than injected', () => {
    const { faults } = result.scorecard;
    expect(FAULT_KINDS.reduce((n, k) => n + faults[k].injected, 0)).toBe(result.faults.length);
    for (const k of FAULT_KINDS) {
      expect(faults[k].injected).toBe(result.faults.filter((f) => f.kind === k).length);
      expect(faults[k].injected).toBeGreaterThanOrEqual(1);
      expect(faults[k].detected).toBeLessThanOrEqual(faults[k].injected);
      if (faults[k].detected === 0) expect(faults[k].median_delay_min).toBeNull();
      else expect(faults[k].median_delay_min).toBeGreaterThanOrEqual(0);
    }
  });

  it('keeps its other figures within what they can be', () => {
    for (const run of result.runs) {
      const s = run.score;
      const alerts = Object.values(s.alerts).reduce((a, b) => a + b, 0);
      expect(s.false_alerts).toBeLessThanOrEqual(alerts);
      expect(alerts).toBe(run.alerts.length);
      expect(s.bins_overflowed).toBeLessThanOrEqual(50);
      expect(s.overflow_bin_hours).toBeLessThanOrEqual(s.bins_overflowed * 48);
      expect(s.mean_fill_at_lift_pct).toBeGreaterThanOrEqual(0);
      expect(s.mean_fill_at_lift_pct).toBeLessThanOrEqual(105);
      expect(s.truck_km).toBeGreaterThan(0);
      expect(s.lifts_per_bin_week).toBeCloseTo(s.lifts / 50 / (2 / 7), 2);
    }
  });

  it('writes a report page that needs no network', () => {
    const html = renderReport(result);
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)[^'"\s]*\.(js|css)/);
    expect(html).toContain('"binbridge"');
  });
});
