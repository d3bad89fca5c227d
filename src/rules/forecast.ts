import type { RulesConfig } from '../config/index.js';
import type { BinRuleState, FillPoint } from './types.js';

const HOUR_MS = 3_600_000;
/** the estimate looks at the last few hours only: older readings describe another part of the day */
const WINDOW_MS = 6 * HOUR_MS;
const MAX_POINTS = 144;
const MIN_POINTS = 3;
const MIN_SPAN_MS = 30 * 60_000;
/** below this the bin is, for practical purposes, not filling */
const MIN_RATE_PCT_PER_H = 0.1;
/** the slope must stand this many standard errors above zero, so noise on a flat bin is no trend */
const MIN_T = 2;

/** points this close together are one point: the newest stands for them (keeps the state small at any rate) */
const STEP_MS = 5 * 60_000;

/** Adds a reading to the history, dropping what fell out of the window. */
export function recordFill(history: FillPoint[], point: FillPoint): FillPoint[] {
  const kept = history.filter((p) => p.ts >= point.ts - WINDOW_MS);
  const before = kept[kept.length - 2];
  if (before && point.ts - before.ts < STEP_MS) kept[kept.length - 1] = point;
  else kept.push(point);
  return kept.length > MAX_POINTS ? kept.slice(kept.length - MAX_POINTS) : kept;
}

export interface Forecast {
  ratePctPerH: number | null;
  hoursToFull: number | null;
  /** the fitted fill at the newest point: the level with the noise of single readings smoothed out */
  levelPct: number | null;
}

/** Fill rate (least squares, pct per hour) and hours until full_pct; hoursToFull is null unless clearly rising. */
export function forecast(state: BinRuleState, rules: RulesConfig): Forecast {
  const pts = state.history;
  const last = pts[pts.length - 1];
  const first = pts[0];
  if (!last || !first || pts.length < MIN_POINTS || last.ts - first.ts < MIN_SPAN_MS) {
    return { ratePctPerH: null, hoursToFull: null, levelPct: null };
  }
  const fit = leastSquares(pts, last.ts);
  const level = Math.min(100, Math.max(0, fit.levelAtLast));
  const rising = fit.slope >= MIN_RATE_PCT_PER_H && fit.slope >= MIN_T * fit.slopeSe;
  if (!rising) return { ratePctPerH: fit.slope, hoursToFull: null, levelPct: level };
  return { ratePctPerH: fit.slope, hoursToFull: Math.max(0, (rules.full_pct - level) / fit.slope), levelPct: level };
}

/** Straight line through the points, x in hours before the newest point. */
function leastSquares(pts: FillPoint[], lastTs: number): { slope: number; levelAtLast: number; slopeSe: number } {
  const n = pts.length;
  const xs = pts.map((p) => (p.ts - lastTs) / HOUR_MS);
  const meanX = xs.reduce((a, b) => a + b, 0) / n;
  const meanY = pts.reduce((a, p) => a + p.fill, 0) / n;
  let sxx = 0;
  let sxy = 0;
  pts.forEach((p, i) => {
    const dx = (xs[i] ?? 0) - meanX;
    sxx += dx * dx;
    sxy += dx * (p.fill - meanY);
  });
  const slope = sxx > 0 ? sxy / sxx : 0;
  const levelAtLast = meanY - slope * meanX;
  let sse = 0;
  pts.forEach((p, i) => {
    const r = p.fill - (levelAtLast + slope * (xs[i] ?? 0));
    sse += r * r;
  });
  const slopeSe = sxx > 0 && n > 2 ? Math.sqrt(sse / (n - 2) / sxx) : Infinity;
  return { slope, levelAtLast, slopeSe };
}
