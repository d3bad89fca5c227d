import type { RulesConfig } from '../config/index.js';
import { OUTLIER_RUN, OUTLIER_RUN_MS, recentOutliers } from './outlier.js';
import { fmt, type BinEvent, type BinRuleState, type RuleReading } from './types.js';

const HOUR_MS = 3_600_000;
/** real ultrasonic readings jitter; this many identical ones over this long is a frozen sensor */
const STUCK_COUNT = 12;
const STUCK_SPAN_MS = 6 * HOUR_MS;
/**
 * An empty bin (0 %) or a clamped full one (100 %) legitimately repeats one value,
 * so a stuck value counts only in between. A sensor stuck at empty is what residents' reports catch.
 */
const STUCK_MIN_FILL = 1;
const STUCK_MAX_FILL = 99;
/** after a report, the sensor is believed again once it sees the level move */
const REPORT_MOVE_PCT = 5;

/** Counts identical consecutive values: distance to the mm when the sensor sends it, else fill. Updates the draft. */
export function trackStuck(d: BinRuleState, r: RuleReading): void {
  const kind = r.distanceMm !== undefined ? 'distance' : 'fill';
  const value = r.distanceMm ?? r.fillPct;
  if (d.stuck.kind === kind && d.stuck.value === value) d.stuck.count += 1;
  else d.stuck = { kind, value, count: 1, since: r.ts };
}

function isStuck(d: BinRuleState, r: RuleReading): boolean {
  const { count, since } = d.stuck;
  return (
    since !== null &&
    count >= STUCK_COUNT &&
    r.ts - since >= STUCK_SPAN_MS &&
    r.fillPct >= STUCK_MIN_FILL &&
    r.fillPct <= STUCK_MAX_FILL
  );
}

/**
 * Sensor suspect, on persistent evidence only: a stuck value, or a run of outliers (OUTLIER_RUN within a day; a
 * lone one is only counted). Closes after `debounce` plausible readings. Updates the draft.
 */
export function applySuspect(d: BinRuleState, r: RuleReading, rules: RulesConfig): BinEvent[] {
  const stuck = isStuck(d, r);
  const outliers = recentOutliers(d, r.ts);
  const spiky = outliers >= OUTLIER_RUN;
  const base = { type: 'sensor_suspect' as const, binId: r.binId, ts: r.ts, value: r.fillPct };
  if (!d.suspect.open) {
    if (spiky) {
      d.suspect = { open: true, cause: 'outlier_run', streak: 0, refFill: d.lastFill };
      const message = `Sensor may be faulty: ${outliers} readings in the last ${fmt(OUTLIER_RUN_MS / HOUR_MS)} h were set aside as outliers.`;
      return [{ ...base, opens: 'sensor_suspect', cause: 'outlier_run', message }];
    }
    if (stuck && d.stuck.since !== null) {
      d.suspect = { open: true, cause: 'stuck', streak: 0, refFill: r.fillPct };
      const hours = (r.ts - d.stuck.since) / HOUR_MS;
      const message = `Sensor may be stuck: the same ${d.stuck.kind} for ${d.stuck.count} readings over ${fmt(hours)} h.`;
      return [{ ...base, opens: 'sensor_suspect', cause: 'stuck', message }];
    }
    return [];
  }
  const ref = d.suspect.refFill;
  const moved = d.suspect.cause !== 'report' || ref === null || Math.abs(r.fillPct - ref) >= REPORT_MOVE_PCT;
  d.suspect.streak = !spiky && !stuck && moved ? d.suspect.streak + 1 : 0;
  if (d.suspect.streak < rules.debounce) return [];
  d.suspect = { open: false, cause: null, streak: 0, refFill: null };
  return [{ ...base, closes: ['sensor_suspect'], message: 'Sensor readings look plausible again.' }];
}

/** A resident reported the bin: opens sensor_suspect when the sensor calls it nearly empty. Updates the draft. */
export function suspectFromReport(d: BinRuleState, binId: string, now: number, rules: RulesConfig): BinEvent[] {
  if (d.lastFill === null || d.lastFill >= rules.clear_pct || d.suspect.open) return [];
  d.suspect = { open: true, cause: 'report', streak: 0, refFill: d.lastFill };
  return [
    {
      type: 'sensor_suspect',
      binId,
      ts: now,
      value: d.lastFill,
      opens: 'sensor_suspect',
      cause: 'report',
      message: `Sensor may be wrong: a resident reported this bin, but it reads only ${fmt(d.lastFill)} %.`,
    },
  ];
}
