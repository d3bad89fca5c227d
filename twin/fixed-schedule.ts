// The baseline: rounds as a planner without sensors draws them (issue 10). Pure.
import { hashString } from '../firmware-sim/random.js';

export interface ScheduledBin {
  id: string;
  zone: string;
  kind: string;
  /** mean fill rate, pct per hour (what past rounds teach the planner) */
  fillRatePerHour: number;
}

export interface GroupSchedule {
  zone: string;
  kind: string;
  /** the interval K in days */
  everyDays: number;
  /** weekdays (0 = Sunday) the group is lifted on; for K >= 7 the one weekday of every `weeks`-th week */
  weekdays: number[];
  weeks: number;
  binIds: string[];
}

/** The rate of the fastest-filling tenth: the 90th percentile (nearest rank). */
function p90(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
}

/** K: the largest whole number of days (>= 1) in which the fastest tenth of the group fills to at most `pct`. */
export function intervalDays(ratesPerHour: readonly number[], pct = 80): number {
  const perDay = p90(ratesPerHour) * 24;
  return Math.max(1, Math.floor(pct / perDay));
}

/**
 * Every bin of one zone and kind is lifted every K days on the same weekdays: K < 7 means ceil(7 / K) days a
 * week, spread evenly (no gap longer than K); K >= 7 one weekday every floor(K / 7) weeks. The first weekday is
 * the zone's (Monday to Saturday, from its name), as cities give each district its day.
 */
export function fixedSchedule(bins: readonly ScheduledBin[], pct = 80): GroupSchedule[] {
  const groups = new Map<string, ScheduledBin[]>();
  for (const b of bins) {
    const key = `${b.zone}\u0000${b.kind}`;
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  return [...groups.values()].map((list) => {
    const { zone, kind } = list[0]!;
    const everyDays = intervalDays(list.map((b) => b.fillRatePerHour), pct);
    const first = 1 + (hashString(`zone:${zone}`) % 6);
    const perWeek = everyDays < 7 ? Math.ceil(7 / everyDays) : 1;
    const weekdays = [...new Set(Array.from({ length: perWeek }, (_, i) => (first + Math.round((i * 7) / perWeek)) % 7))].sort((a, b) => a - b);
    return { zone, kind, everyDays, weekdays, weeks: everyDays < 7 ? 1 : Math.floor(everyDays / 7), binIds: list.map((b) => b.id) };
  });
}

/** Is the group lifted on day `dayIndex` of the run (0 = the first), which falls on `weekday`? */
export function isRoundDay(g: GroupSchedule, dayIndex: number, weekday: number): boolean {
  if (!g.weekdays.includes(weekday)) return false;
  return g.weeks === 1 || Math.floor(dayIndex / 7) % g.weeks === 0;
}
