import { weightedHours } from './fill-profile.js';
import type { Rhythm } from './planner.js';

const HOUR_MS = 3_600_000;
/** the rules' estimate is a line through this many last hours (rules/forecast.ts) */
const RULES_WINDOW_H = 6;
/** fewer mean hours than this (a night) say too little of the bin's rate to plan on */
const MIN_WEIGHTED_H = 2;
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
 * The fill rate to plan rounds with, in % per mean hour of the city's rhythm (%/h on a flat day). Bins fill by the
 * time of day (busy afternoons, quiet nights), so the gain since the bin was last emptied over the mean hours in
 * between, over at least six real hours, is the better guide to the next round; before that the rules' own
 * estimate (a straight line through the last few hours) stands in. Null when neither is known.
 */
export function planningRate(o: { emptied: Emptied | undefined; fillPct: number | null; now: number; rulesRate: number | null; rhythm?: Rhythm | undefined }): number | null {
  const { emptied, fillPct } = o;
  if (emptied && fillPct !== null && fillPct >= emptied.fillPct - UNSEEN_EMPTYING_PCT) {
    const hours = (o.now - emptied.at) / HOUR_MS;
    const weighted = o.rhythm ? weightedHours(o.rhythm.weights, o.rhythm.utcOffsetMin, emptied.at, o.now) : hours;
    if (hours >= MIN_SPAN_H && weighted >= MIN_WEIGHTED_H) return Math.max(0, fillPct - emptied.fillPct) / weighted;
  }
  // the rules' line runs through the last few hours: read it against their weight, not as a mean hour's
  if (o.rulesRate === null || !o.rhythm) return o.rulesRate;
  const recent = weightedHours(o.rhythm.weights, o.rhythm.utcOffsetMin, o.now - RULES_WINDOW_H * HOUR_MS, o.now);
  return recent > 0 ? (o.rulesRate * RULES_WINDOW_H) / recent : o.rulesRate;
}
