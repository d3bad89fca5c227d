import { distance } from 'geokdbush';
import { weightedHours } from './fill-profile.js';

const HOUR_MS = 3_600_000;
/** a bin forecast to reach this before the next round overflows if it waits for it */
export const OVERFLOW_PCT = 100;
/**
 * The overflow forecast reads a bin's rate this much higher: a rate learned over a day misses a busier one (a
 * weekend in the centre fills ~30 % faster); on the city twin 20 % kept overflow at a tenth of the fixed schedule's.
 */
export const RATE_MARGIN = 0.2;

/** Why a bin is on a job: its open alert, the forecast, near the route, or a fire. */
export type StopReason = 'alert' | 'forecast' | 'ride_along' | 'fire';

export interface StopWhy {
  binId: string;
  reason: StopReason;
  /** the alert's cause ('threshold', 'forecast'), for reason 'alert' and 'fire' */
  cause?: string | undefined;
  /** hours from planning until the bin was forecast to pass full_pct (0: already past it) */
  hoursToFull?: number | undefined;
}

export interface PlanBin {
  id: string;
  lat: number;
  lon: number;
  capacityL: number;
  /** the newest fill; null when the bin has not reported */
  fillPct: number | null;
  /** the planning fill rate in % per mean hour (of the rhythm; per hour on a flat day); null when unknown */
  ratePctPerH: number | null;
  /** waiting in the dispatch queue for its open `full` alert */
  queued?: { cause?: string | undefined } | undefined;
}

/** The city's fill rhythm: the weight of each local hour (mean 1), and the city's offset from UTC in minutes. */
export interface Rhythm {
  weights: readonly number[];
  utcOffsetMin: number;
}

/** A flat day: every hour fills alike (the planner's view before it has learned the city's rhythm). */
export const FLAT: Rhythm = { weights: new Array<number>(24).fill(1), utcOffsetMin: 0 };

export interface RoundInput {
  now: number;
  /** how long after a round is planned its crew typically reaches a bin (this round's and the next one's) */
  reachMs?: number | undefined;
  /** the fill rhythm the rates are read against; flat when absent */
  rhythm?: Rhythm | undefined;
  /** the forecast of overflow reads the rate this much higher (0.2: 20 %), for its uncertainty; default RATE_MARGIN */
  rateMargin?: number | undefined;
  /** the next round after this one: a bin that passes full_pct before it cannot wait for it */
  nextRoundAt: number;
  /** the round after that: a bin full before it rides along when it is near the route */
  roundAfterAt: number;
  fullPct: number;
  /** litres of bin capacity a truck carries; ride-alongs fill what the due bins leave of it */
  truckL: number;
  /** how far from a due bin a ride-along may stand (straight line) */
  rideAlongKm: number;
  bins: readonly PlanBin[];
}

/** Hours until the bin passes fullPct: 0 when it is there, null when the rate says it will not (or is unknown). */
export function hoursToFull(fillPct: number | null, ratePctPerH: number | null, fullPct: number): number | null {
  if (fillPct === null) return null;
  if (fillPct >= fullPct) return 0;
  if (ratePctPerH === null || ratePctPerH <= 0) return null;
  return (fullPct - fillPct) / ratePctPerH;
}

/** The fill expected at `at` (the rate read against the rhythm); null when the fill or the rate is unknown. */
export function fillAt(bin: Pick<PlanBin, 'fillPct' | 'ratePctPerH'>, now: number, at: number, rhythm: Rhythm = FLAT): number | null {
  if (bin.fillPct === null || bin.ratePctPerH === null) return null;
  return bin.fillPct + Math.max(0, bin.ratePctPerH) * weightedHours(rhythm.weights, rhythm.utcOffsetMin, now, at);
}

/** at most this far ahead the forecast looks for the hour a bin passes a level */
const LOOK_AHEAD_H = 7 * 24;

/**
 * Real hours from `now` until the bin passes `pct` by the rhythm: 0 when it is there, null when its rate says it
 * will not within a week (or is unknown).
 */
export function hoursUntil(bin: Pick<PlanBin, 'fillPct' | 'ratePctPerH'>, now: number, pct: number, rhythm: Rhythm = FLAT): number | null {
  const flat = hoursToFull(bin.fillPct, bin.ratePctPerH, pct);
  if (flat === null || flat === 0 || rhythm === FLAT) return flat;
  let fill = bin.fillPct!;
  const rate = bin.ratePctPerH!;
  for (let h = 0; h < LOOK_AHEAD_H; h++) {
    const gain = rate * weightedHours(rhythm.weights, rhythm.utcOffsetMin, now + h * HOUR_MS, now + (h + 1) * HOUR_MS);
    if (fill + gain >= pct) return h + (pct - fill) / gain;
    fill += gain;
  }
  return null;
}

/**
 * Between rounds, must a queued bin go now rather than wait for the next round? Yes when it is forecast to
 * overflow before the next round's crew reaches it, and when its rate is unknown (nothing says it can wait).
 */
export function cannotWait(bin: Pick<PlanBin, 'fillPct' | 'ratePctPerH'>, now: number, nextRoundAt: number, rhythm: Rhythm = FLAT, reachMs = 0): boolean {
  const at = fillAt(bin, now, nextRoundAt + reachMs, rhythm);
  return at === null || at >= OVERFLOW_PCT;
}

/**
 * One zone's job for a round, the way a planner with sensors draws it: every bin forecast (by the city's rhythm) to
 * pass full_pct before the next round's crew reaches it is due (a queued one for its `full` alert, also when its
 * rate is unknown); when any is, the bins near them that will be full before the round after reaches them ride
 * along, soonest-full first, while the truck has room. Nothing due, no job.
 */
export function planRound(input: RoundInput): StopWhy[] {
  const { now, fullPct } = input;
  const rhythm = input.rhythm ?? FLAT;
  const reach = input.reachMs ?? 0;
  const due: StopWhy[] = [];
  const dueBins: PlanBin[] = [];
  const rest: { bin: PlanBin; hours: number }[] = [];
  const margin = input.rateMargin ?? RATE_MARGIN;
  for (const bin of input.bins) {
    const hours = hoursUntil(bin, now, fullPct, rhythm);
    const upper = bin.ratePctPerH === null ? null : fillAt({ fillPct: bin.fillPct, ratePctPerH: bin.ratePctPerH * (1 + margin) }, now, input.nextRoundAt + reach, rhythm);
    const beforeNext = upper !== null && upper >= OVERFLOW_PCT;
    // a queued bin's alert may have come early (a forecast from a busy hour, a spurious echo): the bin waits
    // for the round at which it is due; with no rate to tell, the alert decides
    if (bin.queued && (beforeNext || bin.ratePctPerH === null)) {
      due.push({ binId: bin.id, reason: 'alert', cause: bin.queued.cause, ...(hours === null ? {} : { hoursToFull: hours }) });
      dueBins.push(bin);
    } else if (beforeNext) {
      due.push({ binId: bin.id, reason: 'forecast', ...(hours === null ? {} : { hoursToFull: hours }) });
      dueBins.push(bin);
    } else if (hours !== null && now + hours * HOUR_MS <= input.nextRoundAt + reach) {
      rest.push({ bin, hours });
    }
  }
  if (due.length === 0) return [];
  return [...due, ...rideAlong(dueBins, rest, input.truckL, input.rideAlongKm)];
}

/** Whether a place is within `km` (straight line) of any of the bins. */
export function nearAny(bins: readonly { lat: number; lon: number }[], place: { lat: number; lon: number }, km: number): boolean {
  return bins.some((d) => distance(d.lon, d.lat, place.lon, place.lat) <= km);
}

/** The candidates near the due bins, soonest-full first, while the truck's volume allows. */
export function rideAlong(
  dueBins: readonly PlanBin[],
  candidates: readonly { bin: PlanBin; hours: number }[],
  truckL: number,
  rideAlongKm: number,
): StopWhy[] {
  let load = dueBins.reduce((s, b) => s + b.capacityL, 0);
  const near = candidates
    .filter((c) => nearAny(dueBins, c.bin, rideAlongKm))
    .sort((a, b) => a.hours - b.hours || a.bin.id.localeCompare(b.bin.id));
  const out: StopWhy[] = [];
  for (const c of near) {
    if (load + c.bin.capacityL > truckL) continue;
    load += c.bin.capacityL;
    out.push({ binId: c.bin.id, reason: 'ride_along', hoursToFull: c.hours });
  }
  return out;
}

/** The round times ("HH:MM", local) as minutes since midnight, sorted, without repeats. */
export function roundMinutes(rounds: readonly string[]): number[] {
  return [...new Set(rounds.map((r) => Number(r.slice(0, 2)) * 60 + Number(r.slice(3, 5))))].sort((a, b) => a - b);
}

/**
 * The latest round at or before now and the next two after it, in epoch ms, given the local minute of `now`.
 * Whole minutes: the twin and the dispatcher's tick both look once a minute.
 */
export function roundTimes(now: number, localMinute: number, rounds: readonly number[]): { last: number; next: number; after: number } | null {
  if (rounds.length === 0) return null;
  const minuteStart = now - (((now % 60_000) + 60_000) % 60_000);
  const since = Math.min(...rounds.map((m) => (localMinute - m + 1440) % 1440));
  const until = (from: number): number => Math.min(...rounds.map((m) => (m - from + 1440) % 1440 || 1440));
  const toNext = until(localMinute);
  const toAfter = toNext + until((localMinute + toNext) % 1440);
  return { last: minuteStart - since * 60_000, next: minuteStart + toNext * 60_000, after: minuteStart + toAfter * 60_000 };
}
