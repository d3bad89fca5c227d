export { BinMatcher } from './bin-matcher.js';
export { extractCodes } from './codes.js';
export type { Candidate, FillLookup, MatchInput, MatchMethod, MatchResult, MatcherOptions } from './types.js';
