/**
 * A resident's report as the Open311 endpoint sees it, which is what the public may see: the bin, its place from
 * the registry, the status and the times. Nothing the resident sent is here — no words, no pin, no photo, no name
 * or number — so no answer can leak it. Times are epoch milliseconds.
 */
export interface ReportView {
  id: number;
  reference: string;
  bin_id: string | null;
  status: 'open' | 'dispatched' | 'closed';
  method: string;
  /** the bin's position and address in the registry, not where the resident stood */
  lat: number | null;
  lon: number | null;
  address: string | null;
  zone: string | null;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
  status_notes?: string | null;
  /** the Open311 service the report was filed under; reports from WhatsApp are `overflowing-bin` */
  service_code?: string | null;
}

export interface Open311CreateArgs {
  service_code: string;
  lat?: number;
  lon?: number;
  address_string?: string;
  description?: string;
  media_url?: string;
  bin_id?: string;
  email?: string;
  first_name?: string;
  last_name?: string;
  phone?: string;
}

/** What the reports module offers the Open311 endpoint (implemented in `reports/`). */
export interface Open311Source {
  list(f: { status?: ReportView['status'][]; start?: number; end?: number; service_code?: string; limit?: number }): Promise<ReportView[]>;
  getByReference(ref: string): Promise<ReportView | undefined>;
  createFromOpen311(r: Open311CreateArgs): Promise<{ reference: string } | { error: string; code: 400 | 404 }>;
}

/** GeoReport v2 errors are always an array of these. */
export interface Open311Error {
  code: number;
  description: string;
}

export const open311Error = (code: number, description: string): Open311Error[] => [{ code, description }];
