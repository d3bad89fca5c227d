/** A seeded source of randomness; the model's only source, so the same seed gives the same series. */
export interface Random {
  /** uniform in [0, 1) */
  next(): number;
  uniform(min: number, max: number): number;
  /** standard normal, Box-Muller */
  gaussian(): number;
  /** log-uniform in [min, max]: durations spread over orders of magnitude */
  logUniform(min: number, max: number): number;
  chance(p: number): boolean;
}

/** 32-bit FNV-1a, to turn a seed and a bin id into an independent stream per bin. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: tiny, fast, good enough for a simulation (not for secrets). */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    gaussian: () => {
      const u = 1 - next(); // (0, 1]: log(0) is never taken
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    logUniform: (min, max) => Math.exp(Math.log(min) + (Math.log(max) - Math.log(min)) * next()),
    chance: (p) => next() < p,
  };
}
