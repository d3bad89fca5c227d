// Counts in words: "1 open report", "2 open reports". English only, as the page is.

/** "1 bin", "0 bins"; `many` for a word whose plural is not word + "s". */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** The word alone, for a count shown in its own element: "report" or "reports". */
export function noun(n, one, many = `${one}s`) {
  return n === 1 ? one : many;
}
