// The city's fill rhythm over the day, learned from the bins themselves. Pure.
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
export const HOURS = 24;
/** a fall of more than this between two hourly looks is an emptying, not the hour's fill */
const EMPTIED_DROP_PCT = 5;
/** a rise of more than this in an hour is a spurious echo or a refill, not the hour's rhythm */
const MAX_RISE_PCT = 30;
/** each day's look at an hour counts this much against what was learned before (about a week's memory) */
const LEARN = 0.2;
/** this many days of looks at every hour before the rhythm is trusted over a flat day */
const READY_DAYS = 1;
/** this few bins seen in an hour say nothing about the city */
const MIN_BINS = 5;

/**
 * Per local hour of day, the mean fill a bin gains in that hour (%), learned as a moving average over days, and on
 * how many days each hour was seen. Bins fill little at night and most at midday and in the evening: planning a
 * round with a flat rate lifts at 22:00 bins that the night would barely fill.
 */
export interface FillProfile {
  gainPct: number[];
  days: number[];
}

export const emptyProfile = (): FillProfile => ({ gainPct: new Array<number>(HOURS).fill(0), days: new Array<number>(HOURS).fill(0) });

/**
 * The weight of each local hour (mean 1 over the day): how much of a mean hour's fill the bins gain in it. All 1
 * (a flat day) until every hour has been seen on a day.
 */
export function hourWeights(p: FillProfile): number[] {
  const mean = p.gainPct.reduce((s, g) => s + g, 0) / HOURS;
  if (p.days.some((d) => d < READY_DAYS) || !(mean > 0)) return new Array<number>(HOURS).fill(1);
  // an hour never seen to fill still fills a little: never plan as though a bin stood still
  return p.gainPct.map((g) => Math.max(0.05, g / mean));
}

/**
 * One hour's look at the bins: `before` and `after` are each bin's fill an hour apart (the same bins); the mean
 * gain of the bins that were not emptied in between goes into the hour it was made in.
 */
export function learnHour(p: FillProfile, localHour: number, before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): FillProfile {
  const gains: number[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    if (b === undefined) continue;
    const d = a - b;
    if (d < -EMPTIED_DROP_PCT || d > MAX_RISE_PCT) continue;
    gains.push(d);
  }
  if (gains.length < MIN_BINS) return p;
  const h = ((Math.floor(localHour) % HOURS) + HOURS) % HOURS;
  const mean = gains.reduce((s, g) => s + g, 0) / gains.length;
  const gainPct = [...p.gainPct];
  const days = [...p.days];
  gainPct[h] = days[h]! === 0 ? mean : gainPct[h]! + LEARN * (mean - gainPct[h]!);
  days[h] = days[h]! + 1;
  return { gainPct, days };
}

/**
 * The "mean hours" between two instants: real hours, each weighted by its local hour's weight. A bin's rate in %
 * per mean hour times this is what it gains in between. `utcOffsetMin` is the city's offset at planning time (a
 * daylight-saving change within the span moves an hour's weight by an hour, which no round notices).
 */
export function weightedHours(weights: readonly number[], utcOffsetMin: number, from: number, to: number): number {
  if (!(to > from)) return 0;
  let total = 0;
  let t = from;
  while (t < to) {
    const local = t + utcOffsetMin * MINUTE_MS;
    const hourStart = local - (((local % HOUR_MS) + HOUR_MS) % HOUR_MS);
    const end = Math.min(to, hourStart + HOUR_MS - utcOffsetMin * MINUTE_MS);
    const hour = Math.floor((((hourStart % (24 * HOUR_MS)) + 24 * HOUR_MS) % (24 * HOUR_MS)) / HOUR_MS);
    total += ((end - t) / HOUR_MS) * weights[hour]!;
    t = end;
  }
  return total;
}

/** The local hour of day (0..23) at `t` for a city at `utcOffsetMin`. */
export function localHourOf(t: number, utcOffsetMin: number): number {
  const local = t + utcOffsetMin * MINUTE_MS;
  return Math.floor((((local % (24 * HOUR_MS)) + 24 * HOUR_MS) % (24 * HOUR_MS)) / HOUR_MS);
}
