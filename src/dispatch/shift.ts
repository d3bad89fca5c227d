import { localMinutes } from '../local-time.js';

export interface CrewShift {
  id: string;
  zones: readonly string[];
  shift: string; // "HH:MM-HH:MM", local time; may cross midnight; "00:00-24:00" for always
}

const minutes = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
};

export { localMinutes };

/** Is a shift like "06:00-22:00" (or "22:00-06:00", across midnight) on at this local minute? */
export function onShift(shift: string, atMinute: number): boolean {
  const [from, to] = shift.split('-') as [string, string];
  const a = minutes(from);
  const b = minutes(to);
  if (a === b) return false;
  return a < b ? atMinute >= a && atMinute < b : atMinute >= a || atMinute < b;
}

/** The crews serving the zone that are on shift now, in config order (the first one gets the job). */
export function crewsOnShift<C extends CrewShift>(crews: readonly C[], zone: string, now: number, timeZone: string): C[] {
  const at = localMinutes(now, timeZone);
  return crews.filter((c) => c.zones.includes(zone) && onShift(c.shift, at));
}
