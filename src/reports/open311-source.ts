import type { Open311CreateArgs, Open311Source, ReportView } from '../open311/index.js';
import type { BinRegistry } from '../registry/index.js';
import type { BinMatcher } from './matcher/index.js';
import type { Report, ReportStore } from './report-store.js';
import type { ResidentFlow } from './resident-flow.js';

/**
 * Reports as Open311 GeoReport v2 service requests, and requests from the city's other channels as reports.
 * Only what the public may see: the bin and its place from the registry, the status and the times — never what a
 * resident sent (their words, their pin, their photo; those are for operators). The names, phone numbers and
 * e-mail addresses another channel may send are not stored. Every new report is of a bin: a position with no bin
 * within the snap radius is refused, as the matcher would not take it from a resident either.
 */
export class ReportsOpen311 implements Open311Source {
  private readonly snapRadiusM: number;

  constructor(
    private readonly reports: ReportStore,
    private readonly registry: BinRegistry,
    private readonly matcher: () => BinMatcher,
    private readonly flow: ResidentFlow,
    opts: { snapRadiusM?: number } = {},
  ) {
    this.snapRadiusM = opts.snapRadiusM ?? 50;
  }

  private view(r: Report): ReportView {
    const bin = r.bin_id ? this.registry.get(r.bin_id) : undefined;
    return {
      id: r.id,
      reference: r.reference,
      bin_id: r.bin_id,
      status: r.status,
      method: r.method,
      lat: bin?.lat ?? null,
      lon: bin?.lon ?? null,
      address: bin?.address ?? null,
      zone: bin?.zone ?? null,
      created_at: r.created_at,
      updated_at: r.updated_at,
      closed_at: r.closed_at,
      service_code: r.service_code,
      status_notes: r.status === 'dispatched' ? 'A crew has been sent.' : r.status === 'closed' ? 'The bin has been emptied.' : null,
    };
  }

  async list(f: { status?: ReportView['status'][]; start?: number; end?: number; service_code?: string; limit?: number }): Promise<ReportView[]> {
    const rows = await this.reports.list({ since: f.start, until: f.end, service_code: f.service_code, limit: 5000 });
    return rows.filter((r) => !f.status || f.status.includes(r.status)).slice(0, f.limit ?? 1000).map((r) => this.view(r));
  }

  async getByReference(ref: string): Promise<ReportView | undefined> {
    const r = await this.reports.byReference(ref);
    return r && this.view(r);
  }

  async createFromOpen311(a: Open311CreateArgs): Promise<{ reference: string } | { error: string; code: 400 | 404 }> {
    let binId: string | null = null;
    if (a.bin_id) {
      if (!this.registry.get(a.bin_id)) return { error: `no bin ${a.bin_id}`, code: 404 };
      binId = a.bin_id;
    } else {
      const text = [a.address_string, a.description].filter(Boolean).join(' ');
      const location = a.lat !== undefined && a.lon !== undefined ? { latitude: a.lat, longitude: a.lon } : undefined;
      const m = this.matcher().match({ ...(text ? { text } : {}), ...(location ? { location } : {}) });
      if (m.kind === 'matched') binId = m.binId;
      else if (location) {
        // a city's app cannot be asked which bin it meant: near several, the best-ranked one within reach is taken
        const near = m.kind === 'ambiguous' ? m.candidates.find((c) => c.distanceM !== null && c.distanceM <= this.snapRadiusM) : undefined;
        if (!near) return { error: `lat/long: no bin within ${this.snapRadiusM} m of ${location.latitude},${location.longitude}; send attribute[bin_id] with the code on the bin`, code: 400 };
        binId = near.binId;
      } else if (m.kind === 'ambiguous') {
        const codes = m.candidates.slice(0, 5).map((c) => c.binId).join(', ');
        return { error: `address_string matches several bins (${codes}); send attribute[bin_id], or lat and long`, code: 400 };
      } else return { error: 'no bin matches that address; send lat and long, or attribute[bin_id]', code: 400 };
    }
    const report = await this.flow.reportFromChannel({
      binId,
      method: 'open311',
      source: 'open311',
      serviceCode: a.service_code,
      text: a.description ?? null,
      lat: a.lat ?? null,
      lon: a.lon ?? null,
      photo: null,
    });
    return { reference: report.reference };
  }
}
