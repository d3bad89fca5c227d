import type { RulesConfig } from '../config/index.js';
import { forecast, recordFill } from './forecast.js';
import { fmt, type BinEvent, type BinRuleState, type RuleReading } from './types.js';

/** a fall of this many points between two readings is an emptying, whatever the levels */
const COLLECTION_DROP_PCT = 40;
/** ...as is a fall below clear_pct from at least this level */
const COLLECTION_FROM_PCT = 50;
/**
 * The forecast opens 'full' only for a bin within this many points of full_pct. Further out, a straight line through
 * a few hours of a bin's day extrapolates the time of day (a lunchtime or evening rush, then a quiet night) rather
 * than the bin: on the city twin such forecasts were the false 'full' alerts, nearly all of them.
 */
export const FORECAST_WITHIN_PCT = 12;

/**
 * Full / cleared with hysteresis and debounce, collection, and the time-to-full forecast.
 * Updates the draft state in place; the caller passes a copy.
 */
export function applyFill(d: BinRuleState, r: RuleReading, rules: RulesConfig): BinEvent[] {
  const events: BinEvent[] = [];
  const base = { binId: r.binId, ts: r.ts, value: r.fillPct };

  const before = d.recentFills.length > 0 ? Math.min(...d.recentFills) : null;
  d.recentFills = [...d.recentFills, r.fillPct].slice(-2);
  if (before !== null && isCollection(before, r.fillPct, rules)) {
    const wasFull = d.full.open;
    d.full = { open: false, cause: null, streak: 0 };
    d.history = [{ ts: r.ts, fill: r.fillPct }];
    events.push({
      ...base,
      type: 'collected',
      message: `Bin was emptied: fill fell from ${fmt(before)} % to ${fmt(r.fillPct)} %.`,
      ...(wasFull ? { closes: ['full' as const] } : {}),
    });
  } else {
    d.history = recordFill(d.history, { ts: r.ts, fill: r.fillPct });
  }

  if (!d.full.open) {
    // hysteresis: only readings at or above full_pct count toward full
    d.full.streak = r.fillPct >= rules.full_pct ? d.full.streak + 1 : 0;
    if (d.full.streak >= rules.debounce) {
      d.full = { open: true, cause: 'threshold', streak: 0 };
      events.push({
        ...base,
        type: 'full',
        opens: 'full',
        cause: 'threshold',
        message: `Bin is ${fmt(r.fillPct)} % full (threshold ${fmt(rules.full_pct)} %).`,
      });
    } else if (r.fillPct < rules.full_pct && rules.forecast_horizon_h > 0) {
      const f = forecast(d, rules);
      // the reading and the fitted level both: a line through a slowing rush sits above the readings at its end
      const near = f.levelPct !== null && Math.min(f.levelPct, r.fillPct) >= rules.full_pct - FORECAST_WITHIN_PCT;
      if (near && f.hoursToFull !== null && f.ratePctPerH !== null && f.hoursToFull <= rules.forecast_horizon_h) {
        d.full = { open: true, cause: 'forecast', streak: 0 };
        events.push({
          ...base,
          type: 'full',
          opens: 'full',
          cause: 'forecast',
          hoursToFull: Math.round(f.hoursToFull * 100) / 100,
          message:
            `Bin is ${fmt(r.fillPct)} % full and filling at ${fmt(f.ratePctPerH)} %/h; ` +
            `expected to reach ${fmt(rules.full_pct)} % in about ${fmt(f.hoursToFull)} h.`,
        });
      }
    }
  } else {
    // hysteresis: only readings below clear_pct count toward cleared
    d.full.streak = r.fillPct < rules.clear_pct ? d.full.streak + 1 : 0;
    if (d.full.streak >= rules.debounce) {
      d.full = { open: false, cause: null, streak: 0 };
      d.history = [{ ts: r.ts, fill: r.fillPct }];
      events.push({
        ...base,
        type: 'cleared',
        closes: ['full'],
        message: `Bin is down to ${fmt(r.fillPct)} % (below ${fmt(rules.clear_pct)} %).`,
      });
    }
  }
  return events;
}

function isCollection(prev: number, cur: number, rules: RulesConfig): boolean {
  if (prev - cur >= COLLECTION_DROP_PCT) return true;
  return cur < rules.clear_pct && prev >= Math.max(COLLECTION_FROM_PCT, rules.clear_pct + 20);
}
