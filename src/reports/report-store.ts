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
  /** when closed: the bin's zone then, and the crew whose Done closed it (null: the sensors saw it emptied first) */
  closed_zone: string | null;
  closed_crew: string | null;
}

export type FeedbackAnswer = 'up' | 'down';

/** Residents' answers to the thank-you's question, counted per zone and crew of the reports they closed. */
export interface SatisfactionRow {
  zone: string | null;
  crew: string | null;
  /** residents asked */
  asked: number;
  up: number;
  down: number;
}

/** One resident's answer about a report, as an operator sees it (no pseudonym: it would single out the resident). */
export interface ReportFeedback {
  answer: FeedbackAnswer;
  at: number;
  reason: string | null;
}

export interface Reporter {
  report_id: number;
  reporter: string;
  /** the resident's number, sealed; wiped once they were thanked */
  contact: Buffer | null;
  lang: string;
}

/** What a new report says; the store gives it its reference, status and times. */
export type NewReport = Omit<Report, 'id' | 'reference' | 'status' | 'reporters' | 'service_code' | 'created_at' | 'updated_at' | 'closed_at' | 'closed_zone' | 'closed_crew'> & {
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

/**
 * Residents' reports and who made them. Asynchronous, so that the same interface is kept in SQLite or PostgreSQL;
 * the residents' flow uses it bound to one transaction of the decisions (`Decisions.reports`), the API and Open311
 * outside one (`DecisionWork.read`).
 */
export interface ReportStore {
  /** Stores a new open report under a fresh reference. */
  create(r: NewReport): Promise<Report>;
  /** Adds a resident to a report (a second report of the same bin is linked, not repeated); false when already there. */
  addReporter(reportId: number, reporter: string, contact: Buffer | null, lang: string, at: number): Promise<boolean>;
  reportersOf(reportId: number): Promise<Reporter[]>;
  /** The number is needed no longer: wipe it. */
  forgetContact(reportId: number, reporter: string): Promise<void>;
  /** The oldest report of the bin that is not closed. */
  openOfBin(binId: string): Promise<Report | undefined>;
  get(id: number): Promise<Report | undefined>;
  /** By reference, in any case. */
  byReference(reference: string): Promise<Report | undefined>;
  setStatus(id: number, status: ReportStatus, at: number): Promise<void>;
  /** Closes a report, recording the bin's zone and the crew that emptied it (null: the sensors). */
  close(id: number, at: number, by: { zone: string | null; crew: string | null }): Promise<void>;
  /** The thank-you asked this resident the satisfaction question. */
  asked(reportId: number, reporter: string, at: number): Promise<void>;
  /** Whether the resident was asked about this report and has not answered yet. */
  mayAnswer(reference: string, reporter: string): Promise<boolean>;
  /** Keeps the resident's 👍/👎; false when they were not asked or answered already (the first answer stands). */
  answer(reportId: number, reporter: string, answer: FeedbackAnswer, at: number): Promise<boolean>;
  /** Keeps what went wrong after a 👎; false when there was no 👎 or it has its reason already. */
  reason(reportId: number, reporter: string, reason: string): Promise<boolean>;
  /** The answers about one report. */
  feedbackOf(reportId: number): Promise<ReportFeedback[]>;
  /** Answers per zone and crew, of reports closed in [since, until). */
  satisfaction(since?: number, until?: number): Promise<SatisfactionRow[]>;
  /** Newest first. */
  list(f?: ReportFilter): Promise<Report[]>;
  /** Deletes reports created before the cutoff; returns their photo files so the caller can remove them. */
  purge(before: number): Promise<{ deleted: number; photos: string[] }>;
}


/** The statement of `ReportStore.list` (`?` placeholders; PostgreSQL numbers them): newest first, paged by (created_at, id). */
export function reportsListed(f: ReportFilter): { sql: string; args: unknown[] } {
  const filters = where([
    ['status = ?', f.status],
    ['service_code = ?', f.service_code],
    ['bin_id = ?', f.bin],
    ['created_at >= ?', f.since],
    ['created_at < ?', f.until],
  ]);
  const w = afterKey(filters, ['created_at', 'id'], f.after);
  return { sql: `SELECT * FROM reports ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?`, args: [...w.args, f.limit ?? 500] };
}

/** The reports in SQLite (`reports`, `report_reporters`). */
export class SqliteReportStore implements ReportStore {
  // asked by the rules for every bin whose alert opens or closes, prepared once
  private readonly openOfBinStmt;

  constructor(private readonly db: Database.Database) {
    this.openOfBinStmt = db.prepare(`SELECT * FROM reports WHERE bin_id = ? AND status != 'closed' ORDER BY id LIMIT 1`);
  }

  private newReference(): string {
    return shortCode('R-', 4, (ref) => this.db.prepare('SELECT 1 FROM reports WHERE reference = ?').get(ref) !== undefined);
  }

  async create(r: NewReport): Promise<Report> {
    const reference = this.newReference();
    const info = this.db
      .prepare(
        `INSERT INTO reports (reference, bin_id, method, reporter, text, lat, lon, photo, status, source, service_code, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)`,
      )
      .run(reference, r.bin_id, r.method, r.reporter, r.text, r.lat, r.lon, r.photo, r.source, r.service_code ?? 'overflowing-bin', r.at, r.at);
    return (await this.get(Number(info.lastInsertRowid)))!;
  }

  async addReporter(reportId: number, reporter: string, contact: Buffer | null, lang: string, at: number): Promise<boolean> {
    const added = this.db
      .prepare('INSERT OR IGNORE INTO report_reporters (report_id, reporter, contact, lang, added_at) VALUES (?, ?, ?, ?, ?)')
      .run(reportId, reporter, contact, lang, at).changes > 0;
    if (added) this.db.prepare('UPDATE reports SET reporters = (SELECT count(*) FROM report_reporters WHERE report_id = ?), updated_at = ? WHERE id = ?').run(reportId, at, reportId);
    return added;
  }

  async reportersOf(reportId: number): Promise<Reporter[]> {
    return this.db.prepare('SELECT report_id, reporter, contact, lang FROM report_reporters WHERE report_id = ?').all(reportId) as Reporter[];
  }

  async forgetContact(reportId: number, reporter: string): Promise<void> {
    this.db.prepare('UPDATE report_reporters SET contact = NULL WHERE report_id = ? AND reporter = ?').run(reportId, reporter);
  }

  async openOfBin(binId: string): Promise<Report | undefined> {
    return this.openOfBinStmt.get(binId) as Report | undefined;
  }

  async get(id: number): Promise<Report | undefined> {
    return this.db.prepare('SELECT * FROM reports WHERE id = ?').get(id) as Report | undefined;
  }

  async byReference(reference: string): Promise<Report | undefined> {
    return this.db.prepare('SELECT * FROM reports WHERE reference = ?').get(reference.toUpperCase()) as Report | undefined;
  }

  async setStatus(id: number, status: ReportStatus, at: number): Promise<void> {
    this.db.prepare('UPDATE reports SET status = ?, updated_at = ?, closed_at = CASE WHEN ? = \'closed\' THEN ? ELSE closed_at END WHERE id = ?').run(status, at, status, at, id);
  }

  async close(id: number, at: number, by: { zone: string | null; crew: string | null }): Promise<void> {
    this.db.prepare(`UPDATE reports SET status = 'closed', updated_at = ?, closed_at = ?, closed_zone = ?, closed_crew = ? WHERE id = ?`).run(at, at, by.zone, by.crew, id);
  }

  async asked(reportId: number, reporter: string, at: number): Promise<void> {
    this.db.prepare('UPDATE report_reporters SET asked_ms = ? WHERE report_id = ? AND reporter = ?').run(at, reportId, reporter);
  }

  async mayAnswer(reference: string, reporter: string): Promise<boolean> {
    return (
      this.db
        .prepare('SELECT 1 FROM report_reporters rr JOIN reports r ON r.id = rr.report_id WHERE r.reference = ? AND rr.reporter = ? AND rr.asked_ms IS NOT NULL AND rr.feedback IS NULL')
        .get(reference.toUpperCase(), reporter) !== undefined
    );
  }

  async answer(reportId: number, reporter: string, answer: FeedbackAnswer, at: number): Promise<boolean> {
    return (
      this.db
        .prepare('UPDATE report_reporters SET feedback = ?, feedback_ms = ? WHERE report_id = ? AND reporter = ? AND asked_ms IS NOT NULL AND feedback IS NULL')
        .run(answer, at, reportId, reporter).changes > 0
    );
  }

  async reason(reportId: number, reporter: string, reason: string): Promise<boolean> {
    return (
      this.db
        .prepare(`UPDATE report_reporters SET feedback_reason = ? WHERE report_id = ? AND reporter = ? AND feedback = 'down' AND feedback_reason IS NULL`)
        .run(reason, reportId, reporter).changes > 0
    );
  }

  async feedbackOf(reportId: number): Promise<ReportFeedback[]> {
    return this.db
      .prepare('SELECT feedback AS answer, feedback_ms AS at, feedback_reason AS reason FROM report_reporters WHERE report_id = ? AND feedback IS NOT NULL ORDER BY feedback_ms, reporter')
      .all(reportId) as ReportFeedback[];
  }

  async satisfaction(since?: number, until?: number): Promise<SatisfactionRow[]> {
    const w = where([
      ['r.closed_at >= ?', since],
      ['r.closed_at < ?', until],
    ]);
    const closed = w.sql ? `${w.sql} AND r.status = 'closed'` : `WHERE r.status = 'closed'`;
    return this.db
      .prepare(
        `SELECT r.closed_zone AS zone, r.closed_crew AS crew, count(rr.asked_ms) AS asked,
                count(CASE WHEN rr.feedback = 'up' THEN 1 END) AS up, count(CASE WHEN rr.feedback = 'down' THEN 1 END) AS down
         FROM reports r JOIN report_reporters rr ON rr.report_id = r.id ${closed}
         GROUP BY r.closed_zone, r.closed_crew HAVING count(rr.asked_ms) > 0 ORDER BY r.closed_zone, r.closed_crew`,
      )
      .all(...w.args) as SatisfactionRow[];
  }

  async list(f: ReportFilter = {}): Promise<Report[]> {
    const q = reportsListed(f);
    return this.db.prepare(q.sql).all(...q.args) as Report[];
  }

  async purge(before: number): Promise<{ deleted: number; photos: string[] }> {
    const photos = this.db.prepare('SELECT photo FROM reports WHERE created_at < ? AND photo IS NOT NULL').pluck().all(before) as string[];
    const deleted = this.db.transaction(() => {
      this.db.prepare('DELETE FROM report_reporters WHERE report_id IN (SELECT id FROM reports WHERE created_at < ?)').run(before);
      return this.db.prepare('DELETE FROM reports WHERE created_at < ?').run(before).changes;
    }).immediate();
    return { deleted, photos };
  }
}
