import { z } from 'zod';
import { HttpProblem } from './problem.js';

// Every list answers `{ items, next }`: at most `limit` items, and `next` is the cursor of the following page
// (`?cursor=next`), null on the last. Cursors are keyset positions (the last item's sort key), so a page does
// not repeat or skip items when rows are added in front while a client walks the list. They are opaque to
// clients: base64url of a small JSON array, checked against the list's key shape when they come back.

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export const limitSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_LIMIT, `at most ${MAX_LIMIT}; follow \`next\` for more`)
  .optional()
  .describe(`items per page (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}); a CSV export without limit holds up to 100,000 rows`);
export const cursorSchema = z.string().min(1).max(512).optional().describe("the previous page's `next`");

/** `?limit=&cursor=` for a list route's query schema. */
export const pageQuery = { limit: limitSchema, cursor: cursorSchema };

export interface Page<T> {
  items: T[];
  next: string | null;
}

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The key a cursor holds, when it has the list's shape; a 400 problem naming `cursor` otherwise. */
export function decodeCursor<K extends z.ZodType>(cursor: string | undefined, shape: K): z.infer<K> | undefined {
  if (cursor === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    raw = undefined;
  }
  const parsed = shape.safeParse(raw);
  if (!parsed.success) {
    throw new HttpProblem(400, 'cursor: not a cursor of this list; pass the `next` of its previous page, unchanged', [
      { in: 'query', name: 'cursor', detail: "not a cursor of this list (use the previous page's `next`)" },
    ]);
  }
  return parsed.data;
}

/**
 * A page from `rows`, fetched with `limit + 1` so that a further row tells there is a next page; `keyOf` gives
 * the sort key of the page's last item, which the next page starts after.
 */
export function pageOf<R, T>(rows: readonly R[], limit: number, keyOf: (r: R) => readonly (string | number)[], view: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  return { items: shown.map(view), next: more ? encodeCursor(keyOf(shown[shown.length - 1]!)) : null };
}

/** The query's filter value when it is one of `known`; a 400 problem naming the known values otherwise. */
export function knownFilter(name: string, value: string | undefined, known: readonly string[]): string | undefined {
  if (value === undefined || value === '' || known.includes(value)) return value || undefined;
  const list = known.length > 0 ? known.join(', ') : '(none)';
  throw new HttpProblem(400, `${name}: unknown ${name} ${JSON.stringify(value)}; known: ${list}`, [
    { in: 'query', name, detail: `unknown ${name} ${JSON.stringify(value)}; known: ${list}` },
  ], { known: { [name]: known } });
}
