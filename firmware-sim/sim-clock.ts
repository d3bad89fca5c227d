/** The simulated clock: starts at `startSimMs` and runs `speed` times faster than real time. */
export interface SimClock {
  now(): number;
  readonly speed: number;
}

export function createSimClock(startSimMs: number, speed: number, realNow: () => number = Date.now): SimClock {
  const realStart = realNow();
  return {
    speed,
    now: () => startSimMs + (realNow() - realStart) * speed,
  };
}
