/**
 * V8 grows its old generation to up to 4 × what was live at its last full collection. A reconnect storm leaves the
 * garbage of every login and first reading there, and an idle bridge keeps the room: 15,000 devices held 380–430 MB
 * (16–20 KB each) where 300 MB (10 KB each) is enough with a growth of 1.2 × (docs/performance.md, "Memory per
 * connected device"). 1.5 × keeps that (11.4–11.5 KB a device against 11.2 at 1.2 ×; 2 × 14.6 KB) and spares a busy
 * bridge with many seldom sensors, whose bins' states are promoted before they die, a full collection every half
 * second: 8 % less CPU a reading with 1,000 sensors at 5,000/s, no difference with 100 ("Commits paced at 4 ms or 64
 * readings"). Set when `binbridge start` begins; a `--heap-growing-percent` given to node itself wins.
 */
export const HEAP_GROWING_PERCENT = 50;

/** The V8 flags `start` sets, given node's own flags (process.execArgv). */
export function heapGrowthFlags(execArgv: readonly string[]): string[] {
  const given = execArgv.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
  return given ? [] : [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`];
}
