// How evidence adds up, and when the best candidate is clear enough to decide without asking the resident.
// Scores are sums of: pin distance 0..1, address 0..1, a bin-kind word the text names 1, fill bonus 0..0.4.

export interface Scored {
  bin: number;
  distanceM: number | null;
  address: number | null;
  kindHint: number;
  fillPct: number | null;
  /** the text named this bin's street and house number */
  exact: boolean;
  score: number;
}

/** The margin by which the best must beat the second to be chosen without asking. */
export const DECISIVE_MARGIN = 0.3;
/** A pin this close to exactly one bin is that bin… */
export const SOLE_NEARBY_M = 15;
/** …provided the next bin is this much further: phone GPS is often 10–40 m off. */
export const SOLE_GAP_M = 15;
export const KIND_HINT = 1;
const FULL_PCT = 70;
const FILL_WEIGHT = 0.4;

/** 1 at the pin, 0.5 at the snap radius, 0 at twice the radius. */
export function distanceScore(distanceM: number, snapRadiusM: number): number {
  return Math.max(0, 1 - distanceM / (2 * snapRadiusM));
}

/** A full bin next to the pin is the likelier one; below 70 % fill says nothing. */
export function fillBonus(fillPct: number | null): number {
  return fillPct !== null && fillPct >= FULL_PCT ? (FILL_WEIGHT * Math.min(fillPct, 100)) / 100 : 0;
}

function before(a: Scored, b: Scored): boolean {
  if (a.score !== b.score) return a.score > b.score;
  const da = a.distanceM ?? Infinity;
  const db = b.distanceM ?? Infinity;
  return da !== db ? da < db : a.bin < b.bin;
}

/**
 * The best few of any number of candidates, and what the decision needs to know about the rest: offering a
 * candidate costs no allocation unless it makes the list.
 */
export class Ranking {
  /** best first */
  readonly best: Scored[] = [];
  private nearestM = Infinity;
  private secondNearestM = Infinity;
  private inRadius = 0;
  private inSole = 0;

  constructor(
    private readonly keep: number,
    private readonly snapRadiusM: number,
  ) {}

  offer(bin: number, distanceM: number | null, address: number | null, kindHint: number, fillPct: number | null, exact: boolean): void {
    if (distanceM !== null) {
      if (distanceM < this.nearestM) {
        this.secondNearestM = this.nearestM;
        this.nearestM = distanceM;
      } else if (distanceM < this.secondNearestM) this.secondNearestM = distanceM;
      if (distanceM <= this.snapRadiusM) this.inRadius++;
      if (distanceM <= SOLE_NEARBY_M) this.inSole++;
    }
    const score = (distanceM === null ? 0 : distanceScore(distanceM, this.snapRadiusM)) + (address ?? 0) + kindHint + fillBonus(fillPct);
    const s: Scored = { bin, distanceM, address, kindHint, fillPct, exact, score };
    const best = this.best;
    if (best.length === this.keep && !before(s, best[best.length - 1]!)) return;
    let i = best.length;
    while (i > 0 && before(s, best[i - 1]!)) i--;
    best.splice(i, 0, s);
    if (best.length > this.keep) best.pop();
  }

  /**
   * Whether the first is clear. A margin counts only where the evidence is specific (a pin or a full address):
   * a street name alone lists the street, whatever the fill levels say.
   */
  isClear(): boolean {
    const [top, second] = this.best;
    if (!top) return false;
    if (!second) return true;
    const margin = top.score - second.score;
    if (top.exact) return !second.exact || margin >= DECISIVE_MARGIN;
    // beyond twice the radius the pin says nothing about this bin
    if (top.distanceM === null || top.distanceM > 2 * this.snapRadiusM) return false;
    if (margin >= DECISIVE_MARGIN) return true;
    // the pin's nearest bin, with no other within 15 m or the only one within the snap radius, and the next well
    // behind it
    if (this.nearestM < top.distanceM || this.secondNearestM - top.distanceM < SOLE_GAP_M) return false;
    return (top.distanceM <= SOLE_NEARBY_M && this.inSole === 1) || (top.distanceM <= this.snapRadiusM && this.inRadius === 1);
  }
}
