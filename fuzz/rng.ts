// A small seeded PRNG for the mutators: every input is a pure function of (seed, target, phase, index), so a
// finding can be regenerated from the numbers in the report. (fast-check draws the structured values itself.)

import { hashString } from '../firmware-sim/random.js';

/** A seed for one stream of inputs, e.g. deriveSeed(42, 'mqtt', 'devices', 17). */
export function deriveSeed(seed: number, ...parts: (string | number)[]): number {
  return hashString(`${seed}|${parts.join('|')}`) | 0;
}

/** sfc32: fast, decent, and tiny. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** an integer in [min, max] */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** picks by weight: pickWeighted([[3, 'a'], [1, 'b']]) */
  pickWeighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = this.float() * total;
    for (const [w, v] of items) {
      r -= w;
      if (r < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** a length skewed towards small values but reaching max: most inputs are short, some are huge */
  skewedLength(max: number): number {
    const r = this.float();
    return Math.min(max, Math.floor(Math.pow(r, 3) * (max + 1)));
  }
}
