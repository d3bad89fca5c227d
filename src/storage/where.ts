/**
 * A WHERE clause from optional filters: each [sql with one ?, value] whose value is set becomes a condition.
 * `where([['status = ?', q.status], ['zone = ?', q.zone]])` -> { sql: 'WHERE status = ?', args: ['open'] }.
 */
export function where(filters: readonly (readonly [string, string | number | undefined | null])[]): { sql: string; args: (string | number)[] } {
  const set = filters.filter((f): f is readonly [string, string | number] => f[1] !== undefined && f[1] !== null && f[1] !== '');
  return { sql: set.length ? `WHERE ${set.map(([s]) => s).join(' AND ')}` : '', args: set.map(([, v]) => v) };
}

/**
 * A list's keyset page: rows after `key` in `ORDER BY a DESC, b DESC` (the page cursors of the API), added to a
 * where() clause. `after(w, ['opened_at', 'id'], [t, 7])` adds `(opened_at < t OR (opened_at = t AND id < 7))`.
 */
export function afterKey(
  w: { sql: string; args: (string | number)[] },
  columns: readonly [string] | readonly [string, string],
  key: readonly (string | number)[] | undefined,
): { sql: string; args: (string | number)[] } {
  if (key === undefined) return w;
  const [a, b] = columns;
  const cond = b === undefined ? `${a} < ?` : `(${a} < ? OR (${a} = ? AND ${b} < ?))`;
  const args = b === undefined ? [key[0]!] : [key[0]!, key[0]!, key[1]!];
  return { sql: w.sql ? `${w.sql} AND ${cond}` : `WHERE ${cond}`, args: [...w.args, ...args] };
}
