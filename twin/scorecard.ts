// What the twin counts, and how it judges binbridge's alerts against the truth of the model. Pure.
import { FAULT_KINDS, dailyFactor, weeklyFactor, type FaultKind } from '../firmware-sim/bin-model.js';
import type { InjectedFault } from './faults.js';

const MINUTE = 60_000;
/** an alert on the reading after a fault ended still saw it */
const GRACE_MS = 30 * MINUTE;

export interface Lift {
  binId: string;
  jobId: string;
  crewId: string;
  at: number;
  fillPct: number;
  /** why binbridge put the bin on the job (its stop reason); null for a fixed round */
  reason?: string | null;
}

export interface OpenedAlert {
  id: number;
  binId: string;
  type: string;
  at: number;
  cause: string | null;
}

export interface StrategyScore {
  lifts: number;
  lifts_per_bin_week: number;
  mean_fill_at_lift_pct: number;
  overflow_bin_hours: number;
  bins_overflowed: number;
  truck_km: number;
  jobs: number;
  messages: number;
  alerts: Record<string, number>;
  false_alerts: number;
  false_alerts_per_1000_bin_days: number;
}

export type FaultScore = Record<FaultKind, { injected: number; detected: number; median_delay_min: number | null }>;

export interface Scorecard {
  bins: number;
  days: number;
  seed: number;
  wall_s: number;
  strategies: Partial<Record<'binbridge' | 'fixed', StrategyScore>>;
  faults: FaultScore;
}

/** The alert that finds each kind of fault. */
export const DETECTED_BY: Record<FaultKind, string> = { fire: 'fire', stuck: 'sensor_suspect', tilt: 'tilt', silent: 'offline' };

/** The faults that make an alert of this type true (full is judged on the fill; battery_low is not judged). */
const TRUE_WHEN: Record<string, readonly FaultKind[]> = { fire: ['fire'], tilt: ['tilt'], offline: ['silent'], sensor_suspect: ['stuck', 'tilt'] };

const activeAt = (f: InjectedFault, at: number): boolean => at >= f.startMs && at <= f.endMs + GRACE_MS;

/**
 * The truth's forecast: the fill the bin is expected to have `hours` from `fromMs`, at its true mean rate shaped
 * by the model's daily and weekly rhythm (without the day-to-day jitter the model adds on top).
 */
export function expectedFill(
  bin: { fillPct: number; fillRatePerHour: number; zone: string },
  fromMs: number,
  hours: number,
  utcOffsetMinutes: number,
): number {
  const stepH = 1 / 6;
  let fill = bin.fillPct;
  for (let h = 0; h < hours; h += stepH) {
    const local = new Date(fromMs + (h + stepH / 2) * 3_600_000 + utcOffsetMinutes * MINUTE);
    const hour = local.getUTCHours() + local.getUTCMinutes() / 60;
    fill += bin.fillRatePerHour * Math.min(stepH, hours - h) * dailyFactor(hour) * weeklyFactor(local.getUTCDay(), bin.zone);
  }
  return fill;
}

/**
 * Does the truth contradict the alert (issue 10)? `full` opened while the true fill is below full_pct - 15 and
 * not forecast (by the truth's forecast, `fillInHorizonPct`) to reach full_pct within the horizon; fire, tilt,
 * offline and sensor_suspect opened with no such fault active in the model.
 */
export function isFalseAlert(
  a: OpenedAlert,
  truth: { fillPct: number; fillInHorizonPct: number },
  faultsOfBin: readonly InjectedFault[],
  rules: { full_pct: number },
): boolean {
  if (a.type === 'full') return truth.fillPct < rules.full_pct - 15 && truth.fillInHorizonPct < rules.full_pct;
  const kinds = TRUE_WHEN[a.type];
  if (!kinds) return false;
  return !faultsOfBin.some((f) => kinds.includes(f.kind) && activeAt(f, a.at));
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Each injected fault is found by the first alert of its detector on its bin while it lasts (or just after). */
export function scoreFaults(faults: readonly InjectedFault[], alerts: readonly OpenedAlert[]): FaultScore {
  const out = Object.fromEntries(FAULT_KINDS.map((k) => [k, { injected: 0, detected: 0, median_delay_min: null }])) as FaultScore;
  const delays = new Map<FaultKind, number[]>(FAULT_KINDS.map((k) => [k, []]));
  for (const f of faults) {
    out[f.kind].injected++;
    const hit = alerts.filter((a) => a.binId === f.binId && a.type === DETECTED_BY[f.kind] && activeAt(f, a.at)).sort((a, b) => a.at - b.at)[0];
    if (!hit) continue;
    out[f.kind].detected++;
    delays.get(f.kind)!.push((hit.at - f.startMs) / MINUTE);
  }
  for (const k of FAULT_KINDS) {
    const m = median(delays.get(k)!);
    out[k].median_delay_min = m === null ? null : Math.round(m * 10) / 10;
  }
  return out;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The figures of one strategy's run. */
export function scoreStrategy(run: {
  bins: number;
  days: number;
  lifts: readonly Lift[];
  overflowBinHours: number;
  binsOverflowed: number;
  truckKm: number;
  jobs: number;
  messages: number;
  alerts: readonly OpenedAlert[];
  falseAlerts: number;
}): StrategyScore {
  const alerts: Record<string, number> = {};
  for (const a of run.alerts) alerts[a.type] = (alerts[a.type] ?? 0) + 1;
  const binDays = run.bins * run.days;
  return {
    lifts: run.lifts.length,
    lifts_per_bin_week: round3(run.lifts.length / run.bins / (run.days / 7)),
    mean_fill_at_lift_pct: run.lifts.length === 0 ? 0 : round1(run.lifts.reduce((s, l) => s + l.fillPct, 0) / run.lifts.length),
    overflow_bin_hours: round1(run.overflowBinHours),
    bins_overflowed: run.binsOverflowed,
    truck_km: round1(run.truckKm),
    jobs: run.jobs,
    messages: run.messages,
    alerts,
    false_alerts: run.falseAlerts,
    false_alerts_per_1000_bin_days: round3((1000 * run.falseAlerts) / binDays),
  };
}
