// Which faults the twin injects, where and when: a plan drawn from the seed, so both strategies see the same.
import { createRandom, hashString } from '../firmware-sim/random.js';
import { FAULT_KINDS, type FaultKind } from '../firmware-sim/bin-model.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Expected fault starts per bin and day (at least one of each kind is injected, however short the run). */
export const FAULT_RATES: Record<FaultKind, number> = { fire: 1 / 2000, stuck: 1 / 1000, tilt: 1 / 1000, silent: 1 / 1000 };

export interface InjectedFault {
  binId: string;
  kind: FaultKind;
  /** the first slot whose reading shows it comes one slot later */
  startMs: number;
  endMs: number;
  /** null: the model's own (a fire burns until it peaks and holds) */
  durationMs: number | null;
}

/**
 * Durations a detector can be held to: a stuck sensor stays stuck past the 12 hours it has to be found in, a silent
 * device stays silent past offline_after_s, a tilt lasts an hour or more.
 */
function duration(kind: FaultKind, rnd: () => number, offlineAfterMs: number): number | null {
  switch (kind) {
    case 'stuck':
      return 16 * HOUR + rnd() * 20 * HOUR;
    case 'silent':
      return offlineAfterMs + HOUR + rnd() * 3 * HOUR;
    case 'tilt':
      return HOUR + rnd() * 5 * HOUR;
    case 'fire':
      return null;
  }
}

/**
 * One fault per bin at most, each kind max(1, round(rate x bin-days)) times, starting on a slot between six hours
 * into the run and the last hours before its end (so the run sees it start and get its chance to be found).
 */
export function planFaults(binIds: readonly string[], opts: { startMs: number; days: number; seed: number; slotMs: number; offlineAfterMs: number }): InjectedFault[] {
  const rng = createRandom(hashString(`faults:${opts.seed}`));
  const rnd = (): number => rng.next();
  const order = [...binIds];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const endMs = opts.startMs + opts.days * DAY;
  const out: InjectedFault[] = [];
  let next = 0;
  for (const kind of FAULT_KINDS) {
    const n = Math.max(1, Math.round(FAULT_RATES[kind] * binIds.length * opts.days));
    for (let i = 0; i < n && next < order.length; i++) {
      const durationMs = duration(kind, rnd, opts.offlineAfterMs);
      const room = Math.max(0, endMs - opts.startMs - 6 * HOUR - (durationMs ?? HOUR) - 2 * HOUR);
      const startMs = opts.startMs + 6 * HOUR + Math.floor((rnd() * room) / opts.slotMs) * opts.slotMs;
      // the model's fire lasts as long as it takes to rise to its peak, about half an hour
      out.push({ binId: order[next++]!, kind, startMs, endMs: startMs + (durationMs ?? HOUR), durationMs });
    }
  }
  return out.sort((a, b) => a.startMs - b.startMs);
}
