export interface MatchInput {
  text?: string;
  location?: { latitude: number; longitude: number };
}

export interface Candidate {
  binId: string;
  address: string;
  /** metres from the resident's pin; null without a pin */
  distanceM: number | null;
  /** address match 0..1, plus 1 when the text names this bin's kind ("papier", "glass"); null when the text said nothing about it */
  textScore: number | null;
  /** live fill in percent, when known */
  fillPct: number | null;
  score: number;
}

export type MatchMethod = 'code' | 'location' | 'address';

export type MatchResult =
  | { kind: 'matched'; binId: string; method: MatchMethod; candidates: Candidate[] }
  | { kind: 'ambiguous'; method: MatchMethod; candidates: Candidate[] /* best first, at most 10 */ }
  | { kind: 'none' };

/** Live fill of a bin in percent, or null when unknown. */
export type FillLookup = (binId: string) => number | null;

export interface MatcherOptions {
  /** a pin snaps to bins this close (SPEC: snap_radius_m, 50 m by default) */
  snapRadiusM?: number;
  /** code prefixes such as 'UTR'; derived from the bin ids when absent */
  codePrefixes?: string[];
  /** ms one message may take before optional work is skipped (10 by default) */
  budgetMs?: number;
  /** ms, for the budget (performance.now by default) */
  clock?: () => number;
}
