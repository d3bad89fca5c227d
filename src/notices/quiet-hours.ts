import { localMinutes } from '../local-time.js';

/** "HH:MM-HH:MM", local time; may cross midnight; equal ends mean no quiet hours at all. */
export const QUIET_HOURS = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

const MIN = 60_000;

function ends(spec: string): [number, number] {
  const m = QUIET_HOURS.exec(spec);
  if (!m) throw new RangeError(`quiet hours ${JSON.stringify(spec)}: expected "HH:MM-HH:MM"`);
  return [Number(m[1]) * 60 + Number(m[2]), (Number(m[3]) * 60 + Number(m[4])) % 1440];
}

/**
 * When the quiet hours that `at` falls in end (epoch ms), or null when `at` is outside them. Local time in
 * `timeZone`; a day with a clock change still ends them at the local time named (one hour sooner or later).
 */
export function quietUntil(at: number, spec: string, timeZone: string): number | null {
  const [from, to] = ends(spec);
  if (from === to) return null;
  const now = localMinutes(at, timeZone);
  const inside = from < to ? now >= from && now < to : now >= from || now < to;
  if (!inside) return null;
  const startOfMinute = at - (at % MIN);
  let end = startOfMinute + (((to - now + 1440) % 1440) * MIN);
  // a clock change in between moves the local time by its offset: correct by what the end reads locally
  const drift = ((localMinutes(end, timeZone) - to + 720 + 1440) % 1440) - 720;
  end -= drift * MIN;
  return end;
}
