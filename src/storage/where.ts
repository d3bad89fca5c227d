/**
 * A WHERE clause from optional filters: each [sql with one ?, value] whose value is set becomes a condition.
 * `where([['status = ?', q.status], ['zone = ?', q.zone]])` -> { sql: 'WHERE status = ?', args: ['open'] }.
 */
export function where(filters: readonly (readonly [string, string | number | undefined | null])[]): { sql: string; args: (string | number)[] } {
  const set = filters.filter((f): f is readonly [string, string | number] => f[1] !== undefined && f[1] !== null && f[1] !== '');
  return { sql: set.length ? `WHERE ${set.map(([s]) => s).join(' AND ')}` : '', args: set.map(([, v]) => v) };
}
