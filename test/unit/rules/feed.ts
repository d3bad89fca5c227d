import type { RulesConfig } from '../../../src/config/index.js';
import {
  evaluateReading,
  initialRuleState,
  type BinEvent,
  type BinRuleState,
  type RuleReading,
} from '../../../src/rules/index.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const T0 = Date.parse('2026-11-25T06:00:00Z');
export const BIN = 'UTR-0001';

export const RULES: RulesConfig = {
  full_pct: 80,
  clear_pct: 30,
  debounce: 2,
  fire_c: 60,
  battery_low_pct: 15,
  offline_after_s: 7200,
  forecast_horizon_h: 6,
};

export type Step = Partial<Omit<RuleReading, 'binId'>>;

/** Readings of fill values, one every `stepMs` from `start`. */
export function fills(values: number[], stepMs = 10 * MIN, start = T0): Step[] {
  return values.map((fillPct, i) => ({ fillPct, ts: start + i * stepMs }));
}

/** Feeds readings in order (ts defaults to one every 10 min, fill to 50 %) and collects every event. */
export function feed(
  steps: Step[],
  rules: RulesConfig = RULES,
  state: BinRuleState = initialRuleState(),
): { state: BinRuleState; events: BinEvent[] } {
  const events: BinEvent[] = [];
  let s = state;
  steps.forEach((step, i) => {
    const reading: RuleReading = { binId: BIN, ts: T0 + i * 10 * MIN, fillPct: 50, ...step };
    const out = evaluateReading(reading, s, rules);
    s = out.state;
    events.push(...out.events);
  });
  return { state: s, events };
}

/** Compact event labels: `full+full` opens, `cleared-full` closes. */
export function labels(events: BinEvent[]): string[] {
  return events.map((e) => `${e.type}${e.opens ? `+${e.opens}` : ''}${e.closes ? `-${e.closes.join(',')}` : ''}`);
}
