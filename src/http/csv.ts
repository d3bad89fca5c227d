import type { FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import { DEFAULT_LIMIT, type Page } from './page.js';

// Alerts, jobs and reports export as CSV for a spreadsheet: `Accept: text/csv`, or the list's path with `.csv`
// (`/api/alerts.csv`), with the same filters as the JSON list.

/** A CSV export without `limit` holds up to this many rows; a `Link: <…>; rel="next"` header says when there are more. */
export const EXPORT_LIMIT = 100_000;

/** The q-value an Accept header gives a media type: its exact range first, else its wildcards (which lose a tie). */
function quality(accept: string, type: string): number {
  let exact = -1;
  let wild = -1;
  for (const part of accept.toLowerCase().split(',')) {
    const [range = '', ...params] = part.split(';').map((x) => x.trim());
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    if (!Number.isFinite(q)) continue;
    if (range === type) exact = Math.max(exact, q);
    else if (range === `${type.split('/')[0]}/*` || range === '*/*') wild = Math.max(wild, q - 0.0001);
  }
  return exact >= 0 ? exact : wild;
}

/** The request asks for CSV: its path ends in `.csv`, or its Accept header prefers text/csv to JSON. */
export function wantsCsv(req: FastifyRequest): boolean {
  if (req.url.split('?')[0]!.toLowerCase().endsWith('.csv')) return true;
  const accept = req.headers.accept;
  if (!accept) return false;
  const csv = quality(accept, 'text/csv');
  return csv > 0 && csv > quality(accept, 'application/json');
}

/**
 * The rows as CSV, in `columns` order (arrays joined with ";", objects as JSON, null empty). A text that a
 * spreadsheet would run as a formula (=, +, -, @ first) is quoted with a leading ' (OWASP's CSV injection).
 */
export function toCsv(columns: readonly string[], rows: readonly object[]): string {
  const flat = rows.map((r) =>
    columns.map((c) => {
      const v = (r as Record<string, unknown>)[c];
      if (v === null || v === undefined) return '';
      if (Array.isArray(v)) return v.join(';');
      if (typeof v === 'object') return JSON.stringify(v);
      return v as string | number | boolean;
    }),
  );
  return stringify(flat, {
    header: true,
    columns: [...columns],
    cast: { boolean: (b) => (b ? 'true' : 'false'), string: (s) => (/^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(s) ? `'${s}` : s) },
  });
}

/** Sends a CSV export named after the list; `next` (when the export was cut) goes in a Link header. */
export function sendCsv(req: FastifyRequest, reply: FastifyReply, name: string, csv: string, next: string | null): FastifyReply {
  if (next !== null) {
    const url = new URL(req.url, 'http://x');
    url.searchParams.set('cursor', next);
    void reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}.csv"`)
    .header('vary', 'accept')
    .send(csv);
}

/** A list as JSON (`{ items, next }`) or, when asked for, as CSV with every row up to EXPORT_LIMIT. */
export async function answerList<T extends object>(
  req: FastifyRequest,
  reply: FastifyReply,
  csv: { name: string; columns: readonly string[] } | null,
  limit: number | undefined,
  page: (limit: number) => Page<T> | Promise<Page<T>>,
): Promise<Page<T> | FastifyReply> {
  if (csv && wantsCsv(req)) {
    const p = await page(limit ?? EXPORT_LIMIT);
    return sendCsv(req, reply, csv.name, toCsv(csv.columns, p.items), p.next);
  }
  return page(limit ?? DEFAULT_LIMIT);
}
