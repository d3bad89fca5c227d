/**
 * The time by which readings of one bin are ordered when deciding which is the newest: the reading's own time,
 * but never later than its arrival. A reading cannot be newer than its arrival, so one stamped ahead by a fast
 * clock (up to ingest.max_future_s is accepted) counts as of its arrival and the device's next reading is newer
 * than it; a sensor's backlog (stamped before arrival) keeps its own order. Every "is this newer than the last"
 * decision uses this time: the bin state, the rules, the live page.
 */
export function orderTs(r: { ts: number; receivedAt?: number | null | undefined }): number {
  return r.receivedAt === undefined || r.receivedAt === null ? r.ts : Math.min(r.ts, r.receivedAt);
}

/**
 * orderTs() in SQL, for a row of `table` with its `ts` and `received_at` columns: SQLite's min() or PostgreSQL's
 * LEAST(). A row without ts has no order (SQLite gives NULL, PostgreSQL the arrival): callers test `ts IS NULL` first.
 * Evaluated by the database itself: SQLite calling back into JavaScript for it cost a quarter of a microsecond per bin
 * in every journal commit.
 */
export const orderTsSql = (table: string, least: 'min' | 'LEAST' = 'min'): string => `${least}(${table}.ts, coalesce(${table}.received_at, ${table}.ts))`;
