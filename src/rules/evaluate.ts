import type { RulesConfig } from '../config/index.js';
import { applyBattery, applyFire, applyTilt, checkSilence, noteHeard } from './alarms.js';
import { orderTs } from './reading-order.js';
import { applyFill } from './thresholds.js';
import { screenFill } from './outlier.js';
import { applySuspect, suspectFromReport, trackStuck } from './suspect.js';
import { cloneState, fmt, type BinEvent, type BinRuleState, type RuleReading } from './types.js';

export interface RuleResult {
  state: BinRuleState;
  events: BinEvent[];
}

/**
 * One reading -> new state + events: back online, fire, fill (collected / full / cleared; a fill far above the last
 * one waits for the next reading to confirm it or call it an outlier), tilt, battery, suspect.
 * The rules see a reading at its orderTs: one stamped ahead of its arrival counts as of its arrival (its events are
 * not dated in the future, and the device's next reading is newer). A reading at or before the newest one seen is
 * a backlog or a duplicate: it changes nothing but the last-heard time.
 */
export function evaluateReading(received: RuleReading, state: BinRuleState, rules: RulesConfig): RuleResult {
  const at = orderTs(received);
  const reading = at === received.ts ? received : { ...received, ts: at };
  const d = cloneState(state);
  const events = noteHeard(d, reading);
  if (d.lastTs !== null && reading.ts <= d.lastTs) return { state: d, events };

  trackStuck(d, reading);
  events.push(...applyFire(d, reading, rules));
  // a tilted bin's sensor points at the ground or the sky: what it reads is no fill level at all
  if (reading.tilt !== true) {
    const screened = screenFill(d, reading);
    if (screened.outlier) events.push(screened.outlier);
    for (const p of screened.fills) {
      events.push(...applyFill(d, { binId: reading.binId, ts: p.ts, fillPct: p.fill }, rules));
      d.lastFill = p.fill;
    }
  }
  events.push(...applyTilt(d, reading, rules));
  events.push(...applyBattery(d, reading, rules));
  events.push(...applySuspect(d, reading, rules));

  d.lastTs = reading.ts;
  return { state: d, events };
}

/** Timer check, no reading: 'offline' once per outage when nothing was heard for offline_after_s before `now`. */
export function evaluateSilence(binId: string, state: BinRuleState, now: number, rules: RulesConfig): RuleResult {
  // the check runs for every bin every minute: a bin heard lately (the usual case) costs no copy of its state
  if (state.lastHeardAt === null || state.offline.open || now - state.lastHeardAt < rules.offline_after_s * 1000) return { state, events: [] };
  const d = cloneState(state);
  return { events: checkSilence(d, binId, now, rules), state: d };
}

/** A resident's report of this bin: a 'report' event, and 'sensor_suspect' when the sensor calls it nearly empty. */
export function evaluateReport(binId: string, state: BinRuleState, now: number, rules: RulesConfig): RuleResult {
  const d = cloneState(state);
  const sensor = d.lastFill === null ? 'no sensor reading yet' : `sensor reads ${fmt(d.lastFill)} %`;
  const report: BinEvent = {
    type: 'report',
    binId,
    ts: now,
    message: `A resident reported this bin (${sensor}).`,
    ...(d.lastFill === null ? {} : { value: d.lastFill }),
  };
  return { events: [report, ...suspectFromReport(d, binId, now, rules)], state: d };
}
