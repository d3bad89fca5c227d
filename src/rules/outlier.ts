import { fmt, initialOutlierState, type BinEvent, type BinRuleState, type FillPoint, type OutlierState, type RuleReading } from './types.js';

const HOUR_MS = 3_600_000;
/**
 * A fill this many points above the last believed one is held until the next reading: a spurious echo (a fly, a
 * lid, a bag against the sensor) reads short and so looks fuller. Ultrasonic noise is about one point and a busy
 * bin gains a few in a quarter hour, so a real rise this large is rare, and holding it costs one reading only.
 */
export const OUTLIER_RISE_PCT = 10;
/** this many outliers within OUTLIER_RUN_MS is persistent evidence that the sensor itself is wrong */
export const OUTLIER_RUN = 4;
export const OUTLIER_RUN_MS = 24 * HOUR_MS;

export interface Screened {
  /** fills the rules may act on, oldest first: none while one is held, two when a held one is confirmed */
  fills: FillPoint[];
  /** the 'outlier' event of a held reading the next one contradicted */
  outlier: BinEvent | null;
}

const outlierState = (d: BinRuleState): OutlierState => (d.outlier ??= initialOutlierState());

/**
 * Decides which fills reach the rules. A rise of more than OUTLIER_RISE_PCT over the last believed fill is held;
 * the next reading confirms it (it is nearer the held fill than the old level: the bin did fill) or contradicts it
 * (an outlier: counted, shown on the bin, never a fill level). Falls are not held: a fall is a collection, and the
 * collection check already wants it seen from both of the last two fills. Updates the draft.
 */
export function screenFill(d: BinRuleState, r: RuleReading): Screened {
  const o = outlierState(d);
  const point = { ts: r.ts, fill: r.fillPct };
  const held = o.pending;
  o.pending = null;
  if (held && d.lastFill !== null) {
    if (Math.abs(r.fillPct - d.lastFill) < Math.abs(r.fillPct - held.fill)) {
      o.recent = [...o.recent.filter((t) => t > r.ts - OUTLIER_RUN_MS), held.ts];
      o.lastAt = held.ts;
      o.total += 1;
      const outlier: BinEvent = {
        type: 'outlier',
        binId: r.binId,
        ts: held.ts,
        value: held.fill,
        message: `Reading of ${fmt(held.fill)} % set aside: the readings before and after it say about ${fmt(d.lastFill)} % and ${fmt(r.fillPct)} %.`,
      };
      return { fills: screenFill(d, r).fills, outlier };
    }
    return { fills: [held, point], outlier: null };
  }
  if (d.lastFill !== null && r.fillPct - d.lastFill > OUTLIER_RISE_PCT) {
    o.pending = point;
    return { fills: [], outlier: null };
  }
  return { fills: [point], outlier: null };
}

/** Outliers within the last OUTLIER_RUN_MS before `now`. */
export function recentOutliers(d: BinRuleState, now: number): number {
  return (d.outlier?.recent ?? []).filter((t) => t > now - OUTLIER_RUN_MS).length;
}
