import type Database from 'better-sqlite3';
import { shortCode } from '../short-code.js';
import { afterKey, where } from '../storage/index.js';

export type ReportStatus = 'open' | 'dispatched' | 'closed';

export interface Report {
  id: number;
  reference: string;
  bin_id: string | null;
  method: string;
  /** keyed pseudonym of the resident, or the channel (e.g. 'open311') */
  reporter: string;
  text: string | null;
  lat: number | null;
  lon: number | null;
  photo: string | null;
  status: ReportStatus;
  reporters: number;
  source: string;
  service_code: string;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
}

export interface Reporter {
  report_id: number;
  reporter: string;
  /** the resident's number, sealed; wiped once they were thanked */
  contact: Buffer | null;
  lang: string;
}

/** What a new report says; the store gives it its reference, status and times. */
export type NewReport = Omit<Report, 'id' | 'reference' | 'status' | 'reporters' | 'service_code' | 'created_at' | 'updated_at' | 'closed_at'> & {
  at: number;
  service_code?: string;
};

/** The filters of a report listing (the API's and Open311's queries). */
export interface ReportFilter {
  status?: string | undefined;
  bin?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  service_code?: string | undefined;
  limit?: number | undefined;
  /** the page after that report's [created_at, id] */
  after?: readonly [number, number] | undefined;
}

/** Residents' reports and who made them. Synchronous: the residents' flow runs each step in one transaction. */
export interface ReportStore {
  /** Stores a new open report under a fresh reference. */
  create(r: NewReport): Report;
  /** Adds a resident to a report (a second report of the same bin is linked, not repeated); false when already there. */
  addReporter(reportId: number, reporter: string, contact: Buffer | null, lang: string, at: number): boolean;
  reportersOf(reportId: number): Reporter[];
  /** The number is needed no longer: wipe it. */
  forgetContact(reportId: number, reporter: string): void;
  /** The oldest report of the bin that is not closed. */
  openOfBin(binId: string): Report | undefined;
  get(id: number): Report | undefined;
  /** By reference, in any case. */
  byReference(reference: string): Report | undefined;
  setStatus(id: number, status: ReportStatus, at: number): void;
  /** Newest first. */
  list(f?: ReportFilter): Report[];
  /** Deletes reports created before the cutoff; returns their photo files so the caller can remove them. */
  purge(before: number): { deleted: number; photos: string[] };
}

/** The reports in SQLite (`reports`, `report_reporters`). */
export class SqliteReportStore implements ReportStore {
  constructor(private readonly db: Database.Database) {}

  private newReference(): string {
    return shortCode('R-', 4, (ref) => this.db.prepare('SELECT 1 FROM reports WHERE reference = ?').get(ref) !== undefined);
  }


  create(r: NewReport): Report {
    const reference = this.newReference();
    const info = this.db
      .prepare(
        `INSERT INTO reports (reference, bin_id, method, reporter, text, lat, lon, photo, status, source, service_code, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)`,
      )
      .run(reference, r.bin_id, r.method, r.reporter, r.text, r.lat, r.lon, r.photo, r.source, r.service_code ?? 'overflowing-bin', r.at, r.at);
    return this.get(Number(info.lastInsertRowid))!;
  }

  addReporter(reportId: number, reporter: string, contact: Buffer | null, lang: string, at: number): boolean {
    const added = this.db
      .prepare('INSERT OR IGNORE INTO report_reporters (report_id, reporter, contact, lang, added_at) VALUES (?, ?, ?, ?, ?)')
      .run(reportId, reporter, contact, lang, at).changes > 0;
    if (added) this.db.prepare('UPDATE reports SET reporters = (SELECT count(*) FROM report_reporters WHERE report_id = ?), updated_at = ? WHERE id = ?').run(reportId, at, reportId);
    return added;
  }

  reportersOf(reportId: number): Reporter[] {
    return this.db.prepare('SELECT report_id, reporter, contact, lang FROM report_reporters WHERE report_id = ?').all(reportId) as Reporter[];
  }

  forgetContact(reportId: number, reporter: string): void {
    this.db.prepare('UPDATE report_reporters SET contact = NULL WHERE report_id = ? AND reporter = ?').run(reportId, reporter);
  }

  openOfBin(binId: string): Report | undefined {
    return this.db.prepare(`SELECT * FROM reports WHERE bin_id = ? AND status != 'closed' ORDER BY id LIMIT 1`).get(binId) as Report | undefined;
  }

  get(id: number): Report | undefined {
    return this.db.prepare('SELECT * FROM reports WHERE id = ?').get(id) as Report | undefined;
  }

  byReference(reference: string): Report | undefined {
    return this.db.prepare('SELECT * FROM reports WHERE reference = ?').get(reference.toUpperCase()) as Report | undefined;
  }

  setStatus(id: number, status: ReportStatus, at: number): void {
    this.db.prepare('UPDATE reports SET status = ?, updated_at = ?, closed_at = CASE WHEN ? = \'closed\' THEN ? ELSE closed_at END WHERE id = ?').run(status, at, status, at, id);
  }

  list(f: ReportFilter = {}): Report[] {
    const filters = where([
      ['status = ?', f.status],
      ['service_code = ?', f.service_code],
      ['bin_id = ?', f.bin],
      ['created_at >= ?', f.since],
      ['created_at < ?', f.until],
    ]);
    const w = afterKey(filters, ['created_at', 'id'], f.after);
    return this.db.prepare(`SELECT * FROM reports ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?`).all(...w.args, f.limit ?? 500) as Report[];
  }

  purge(before: number): { deleted: number; photos: string[] } {
    const photos = this.db.prepare('SELECT photo FROM reports WHERE created_at < ? AND photo IS NOT NULL').pluck().all(before) as string[];
    const deleted = this.db.transaction(() => {
      this.db.prepare('DELETE FROM report_reporters WHERE report_id IN (SELECT id FROM reports WHERE created_at < ?)').run(before);
      return this.db.prepare('DELETE FROM reports WHERE created_at < ?').run(before).changes;
    })();
    return { deleted, photos };
  }
}
