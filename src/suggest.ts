/**
 * "Did you mean": the known word closest to a mistyped one, by optimal-string-alignment distance (Damerau-
 * Levenshtein without repeated edits of one substring: a swapped pair of letters counts as one edit).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word` (ignoring case), or undefined when none is close enough to be a typo of it:
 * at most a third of the word's letters edited (one edit for short words, never more than three).
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(w.length / 3)));
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d <= limit && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

/** "; did you mean X?" when one is close, else the known values (when given), for the end of an error message. */
export function didYouMean(word: string, candidates: readonly string[], listName?: string): string {
  const c = closest(word, candidates);
  if (c !== undefined) return `; did you mean ${c}?`;
  return listName ? `; ${listName}: ${candidates.join(', ')}` : '';
}
