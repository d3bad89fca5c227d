import { z } from 'zod';
import { fromOpen311Status } from './service-request.js';
import type { Open311Service } from './services.js';
import type { Open311Source, ReportView } from './types.js';

const DAY_MS = 24 * 3600 * 1000;
/** "Default query limit is a span of 90 days or first 1000 requests returned, whichever is smallest." */
export const MAX_SPAN_MS = 90 * DAY_MS;
export const MAX_REQUESTS = 1000;

/** Query parameters of GET requests.json; all text, checked by `planRequestsQuery`. */
export const requestsQuerySchema = z.object({
  service_request_id: z.string().max(MAX_REQUESTS * 16).optional(),
  service_code: z.string().max(1000).optional(),
  start_date: z.string().max(64).optional(),
  end_date: z.string().max(64).optional(),
  status: z.string().max(64).optional(),
  jurisdiction_id: z.string().max(200).optional(),
});
export type RequestsQuery = z.infer<typeof requestsQuerySchema>;

type ListFilter = Parameters<Open311Source['list']>[0];

export type RequestsPlan =
  | { ok: true; references: string[] }
  | { ok: true; references?: undefined; filter: ListFilter; service_codes: string[] | undefined }
  | { ok: false; error: string };

const W3C_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A W3C/ISO 8601 date or date-time as epoch ms; a time without a zone is taken as UTC. */
export function parseW3cDateTime(text: string): number | undefined {
  const s = text.trim();
  const m = W3C_DATE.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(s.includes('T') && !m[1] ? `${s}Z` : s);
  return Number.isNaN(ms) ? undefined : ms;
}

const commaList = (s: string): string[] => [...new Set(s.split(',').map((v) => v.trim()).filter(Boolean))];

/**
 * Turns the query of GET requests.json into a lookup, as GeoReport v2 defines it: `service_request_id`
 * overrides all other arguments; otherwise the dates default to the last 90 days and may not span more.
 */
export function planRequestsQuery(q: RequestsQuery, now: number, services: readonly Open311Service[]): RequestsPlan {
  if (q.service_request_id !== undefined) {
    const references = commaList(q.service_request_id);
    if (references.length === 0) return { ok: false, error: 'service_request_id: one or more ids, comma-separated' };
    if (references.length > MAX_REQUESTS) return { ok: false, error: `service_request_id: at most ${MAX_REQUESTS} ids` };
    return { ok: true, references };
  }

  let service_codes: string[] | undefined;
  if (q.service_code !== undefined) {
    service_codes = commaList(q.service_code);
    const unknown = service_codes.filter((c) => !services.some((s) => s.service_code === c));
    if (unknown.length > 0) return { ok: false, error: `service_code: unknown ${unknown.join(', ')} (see services.json)` };
    if (service_codes.length === 0) service_codes = undefined;
  }

  let status: ReportView['status'][] | undefined;
  if (q.status !== undefined) {
    const given = commaList(q.status);
    const bad = given.filter((s) => s !== 'open' && s !== 'closed');
    if (bad.length > 0 || given.length === 0) return { ok: false, error: `status: open or closed (comma-separated), not ${q.status}` };
    status = (given as ('open' | 'closed')[]).flatMap(fromOpen311Status);
  }

  const start = q.start_date === undefined ? undefined : parseW3cDateTime(q.start_date);
  if (q.start_date !== undefined && start === undefined) return { ok: false, error: `start_date: a W3C date-time such as 2024-05-01T00:00:00Z, not ${q.start_date}` };
  const end = q.end_date === undefined ? undefined : parseW3cDateTime(q.end_date);
  if (q.end_date !== undefined && end === undefined) return { ok: false, error: `end_date: a W3C date-time such as 2024-05-31T23:59:59Z, not ${q.end_date}` };

  let range: { start: number; end: number };
  if (start !== undefined && end !== undefined) range = { start, end };
  else if (start !== undefined) range = { start, end: start + MAX_SPAN_MS };
  else if (end !== undefined) range = { start: end - MAX_SPAN_MS, end };
  else range = { start: now - MAX_SPAN_MS, end: now };
  if (range.start > range.end) return { ok: false, error: 'start_date is after end_date' };
  if (range.end - range.start > MAX_SPAN_MS) return { ok: false, error: 'start_date to end_date may not span more than 90 days' };

  return { ok: true, filter: { ...(status ? { status } : {}), start: range.start, end: range.end, limit: MAX_REQUESTS }, service_codes };
}

/** Runs a plan against the reports: newest first, at most 1000. */
export async function findReports(source: Open311Source, plan: Exclude<RequestsPlan, { ok: false }>): Promise<ReportView[]> {
  if (plan.references) return (await Promise.all(plan.references.map((ref) => source.getByReference(ref)))).filter((r): r is ReportView => r !== undefined);
  const found = plan.service_codes ? (await Promise.all(plan.service_codes.map((service_code) => source.list({ ...plan.filter, service_code })))).flat() : await source.list(plan.filter);
  if (!plan.service_codes || plan.service_codes.length < 2) return found;
  return found.sort((a, b) => b.created_at - a.created_at).slice(0, MAX_REQUESTS);
}
