/**
 * V8 grows its old generation to up to 4 × what was live at its last full collection. A reconnect storm leaves the
 * garbage of every login and first reading there, and an idle bridge keeps the room: 15,000 devices held 380–430 MB
 * (16–20 KB each) where 300 MB (10 KB each) is enough with a growth of 1.2 × (docs/performance.md, "Memory per
 * connected device"). Set when `binbridge start` begins; a `--heap-growing-percent` given to node itself wins.
 */
export const HEAP_GROWING_PERCENT = 20;

/** The V8 flags `start` sets, given node's own flags (process.execArgv). */
export function heapGrowthFlags(execArgv: readonly string[]): string[] {
  const given = execArgv.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
  return given ? [] : [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`];
}
