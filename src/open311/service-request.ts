import { DEFAULT_SERVICE_CODE, type Open311Service } from './services.js';
import type { ReportView } from './types.js';

/** A service request with the field names of GeoReport v2 (GET requests.json). */
export interface ServiceRequest {
  service_request_id: string;
  status: 'open' | 'closed';
  status_notes: string | null;
  service_name: string | null;
  service_code: string;
  description: string | null;
  agency_responsible: string | null;
  service_notice: string | null;
  requested_datetime: string;
  updated_datetime: string;
  expected_datetime: string | null;
  address: string | null;
  address_id: string | null;
  zipcode: string | null;
  lat: number | null;
  long: number | null;
  media_url: string | null;
}

/** W3C date-time in UTC, whole seconds (the spec's examples carry no fractions). */
export const w3cDateTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** GeoReport v2 knows only `open` and `closed`; a dispatched report is still open to the public. */
export function toOpen311Status(status: ReportView['status']): 'open' | 'closed' {
  return status === 'closed' ? 'closed' : 'open';
}

/** The report statuses an Open311 `status` value stands for. */
export function fromOpen311Status(status: 'open' | 'closed'): ReportView['status'][] {
  return status === 'closed' ? ['closed'] : ['open', 'dispatched'];
}

const DISPATCHED_NOTE = 'A crew has been dispatched to empty the bin.';

/**
 * What the public reads as the request's description: written from the service and the bin, never the resident's
 * own words (those may hold names, numbers and addresses; operators read them at /api/reports).
 */
export function publicDescription(serviceName: string, r: Pick<ReportView, 'bin_id' | 'address'>): string {
  if (!r.bin_id) return `${serviceName} reported`;
  return `${serviceName} reported: bin ${r.bin_id}${r.address ? ` at ${r.address}` : ''}`;
}

/**
 * One report as a GeoReport v2 service request. The bin code goes in `address_id`: it is the
 * identifier the city's systems know the place by, and POST accepts it back the same way.
 * Photos are never published (a resident's photo may show faces): `media_url` is always null.
 */
export function toServiceRequest(r: ReportView, opts: { services: readonly Open311Service[]; agency?: string | null }): ServiceRequest {
  const code = r.service_code || DEFAULT_SERVICE_CODE;
  const serviceName = opts.services.find((s) => s.service_code === code)?.service_name ?? null;
  return {
    service_request_id: r.reference,
    status: toOpen311Status(r.status),
    status_notes: r.status_notes ?? (r.status === 'dispatched' ? DISPATCHED_NOTE : null),
    service_name: serviceName,
    service_code: code,
    description: publicDescription(serviceName ?? code, r),
    agency_responsible: opts.agency ?? null,
    service_notice: null,
    requested_datetime: w3cDateTime(r.created_at),
    updated_datetime: w3cDateTime(r.updated_at),
    expected_datetime: null,
    address: r.address,
    address_id: r.bin_id,
    zipcode: null,
    lat: r.lat,
    long: r.lon,
    media_url: null,
  };
}
