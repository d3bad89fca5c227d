/**
 * The simulated clock: starts at `startSimMs` and runs `speed` times faster than real time, but never
 * ahead of the real clock — the bridge refuses readings stamped in the future. A fast simulation thus
 * replays history (from a start in the past) until it catches up with now, and then runs live.
 */
export interface SimClock {
  now(): number;
  readonly speed: number;
}

export function createSimClock(startSimMs: number, speed: number, realNow: () => number = Date.now, opts: { ahead?: boolean } = {}): SimClock {
  const realStart = realNow();
  const sim = (): number => startSimMs + (realNow() - realStart) * speed;
  // `ahead`: the readings carry the real time (--stamps real), so the model's clock may run into the future
  return { speed, now: opts.ahead ? sim : () => Math.min(sim(), realNow()) };
}

/** Where the simulated clock starts by default: far enough back that a sped-up run stays in the past. */
export function defaultSimStart(nowMs: number, speed: number, durationMs: number | undefined): number {
  if (speed <= 1) return nowMs;
  const DAY = 86_400_000;
  return nowMs - Math.min(durationMs !== undefined ? durationMs * (speed - 1) : DAY, 30 * DAY);
}
