import { z } from 'zod';

// What the admin API's strings need at most, so that a 9.9 MB "name" is a 400, not a row. Bodies are bounded too
// (server.ts: 64 KB for an /api route), except a bins-file import, which carries a whole city.

/** ids of bins, zones, crews, dispatches and reports; a report may also be asked for by its number */
export const MAX_ID = 64;
/** a filter value in a query string (a zone, a kind, an alert type, a bin) */
export const MAX_FILTER = 64;

export const idParams = z.object({ id: z.string().min(1).max(MAX_ID) });
export const filter = z.string().max(MAX_FILTER).optional();

/**
 * A bins file (CSV, GeoJSON or NGSI-LD) in one request: 20,000 bins are some 2 MB of CSV, 8 MB of GeoJSON and a little
 * more as NGSI-LD; a bigger body is refused before it is read (the import is parsed in slices, but still costs CPU).
 */
export const IMPORT_BODY_LIMIT = 16 * 1024 * 1024;

/** The error of a custom JSON content-type parser for a body that does not parse: the caller's mistake, a 400. */
export function notJson(err: unknown): Error & { statusCode: number } {
  return Object.assign(new Error(`the body is not valid JSON: ${(err as Error).message}`), { statusCode: 400 });
}
