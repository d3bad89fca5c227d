const HOUR_MS = 3_600_000;
/** a shorter span since the emptying says more about the hour of day than about the bin */
const MIN_SPAN_H = 6;
/** a fill this far below the one after the emptying is an emptying the dispatcher did not see */
const UNSEEN_EMPTYING_PCT = 10;

/** The bin's fill just after it was last seen emptied. */
export interface Emptied {
  at: number;
  fillPct: number;
}

/**
 * The fill rate (%/h) to plan rounds with. Bins fill by the time of day (busy afternoons, quiet nights), so the mean
 * rate since the bin was last emptied, over at least six hours, is the better guide to the next round; before that
 * the rules' own estimate (a straight line through the last few hours) stands in. Null when neither is known.
 */
export function planningRate(o: { emptied: Emptied | undefined; fillPct: number | null; now: number; rulesRate: number | null }): number | null {
  const { emptied, fillPct } = o;
  if (emptied && fillPct !== null && fillPct >= emptied.fillPct - UNSEEN_EMPTYING_PCT) {
    const hours = (o.now - emptied.at) / HOUR_MS;
    if (hours >= MIN_SPAN_H) return Math.max(0, fillPct - emptied.fillPct) / hours;
  }
  return o.rulesRate;
}
